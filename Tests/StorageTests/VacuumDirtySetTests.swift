import Synchronization
import Testing

@testable import Storage

/// Vacuum visits only the rows in its dirty sets (`Heap.dirty`): a random workload must keep the
/// invariant (a row outside the set is all-frozen with no xmax), and after every pass a full scan
/// of the heap (the previous algorithm) must find nothing more to remove, freeze or clear.
@Suite("Vacuum dirty sets")
struct VacuumDirtySetTests {
    static let keys: ClosedRange<AccountID> = 1...40

    /// Checks after a vacuum pass: the invariant over the whole heap, and that a reference full
    /// scan in the same mode would change no row.
    func checkAfterVacuum(_ engine: StorageEngine, freeze: Bool, seed: UInt64, step: Int) {
        #expect(engine.assertVacuumMapInvariant() == 0, "seed \(seed) step \(step)")
        #expect(
            engine.referenceFullScanChanges(freeze: freeze) == 0, "seed \(seed) step \(step) freeze \(freeze)")
        if freeze {
            // A freezing pass leaves nothing for a non-freezing full scan either.
            #expect(engine.referenceFullScanChanges(freeze: false) == 0, "seed \(seed) step \(step)")
        }
    }

    @Test("Random writes, aborts, prepares, crashes and vacuums keep the dirty-set invariant", arguments: [1, 2, 3])
    func randomWorkload(seedIndex: Int) async throws {
        let seed = 0x5eed_d127 &+ UInt64(seedIndex)
        var random = SeededGenerator(seed: seed)
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(
                durability: .none, checkpointWALBytes: 0, pruneChainLength: 4, vacuumCommitLogEntries: 0)
            var engine = try StorageEngine(directory: directory, options: options)
            var open: [(xid: TransactionID, snapshot: Snapshot)] = []
            var loaded: AccountID = 1_000
            var vacuums = 0
            for step in 0..<600 {
                let roll = Int.random(in: 0..<100, using: &random)
                if roll < 40 {
                    // A transaction writing a few rows, then committed, aborted, prepared or left open.
                    let xid = try engine.begin()
                    let snapshot = try engine.snapshot(for: xid)
                    for _ in 0..<Int.random(in: 1...3, using: &random) {
                        let key = AccountID.random(in: Self.keys, using: &random)
                        do {
                            if random.chance(20) {
                                try engine.lock(key, for: xid, snapshot: snapshot)
                            } else {
                                try engine.write(key, Row(balance: Int64(step)), for: xid, snapshot: snapshot)
                            }
                        } catch {}
                    }
                    let fate = Int.random(in: 0..<100, using: &random)
                    if fate < 50 {
                        _ = try? await engine.commit(xid)
                    } else if fate < 70 {
                        try? engine.abort(xid)
                    } else if fate < 85 {
                        try? await engine.prepare(xid)
                    } else {
                        open.append((xid, snapshot))
                    }
                } else if roll < 50, !open.isEmpty {
                    let (xid, _) = open.remove(at: Int.random(in: 0..<open.count, using: &random))
                    if random.chance(50) { _ = try? await engine.commit(xid) } else { try? engine.abort(xid) }
                } else if roll < 58 {
                    // Decide a prepared transaction.
                    if let xid = engine.preparedTransactions().randomElement(using: &random) {
                        if random.chance(50) {
                            _ = try? await engine.commitPrepared(xid)
                        } else {
                            try? await engine.abortPrepared(xid)
                        }
                    }
                } else if roll < 62 {
                    // A bulk load of fresh rows (or one over rows that exist: refused).
                    let count = AccountID.random(in: 1...20, using: &random)
                    _ = try? await engine.bulkLoad(keys: loaded..<(loaded + count), row: Row(balance: 7))
                    loaded += random.chance(80) ? count : 0
                } else if roll < 66 {
                    try? engine.checkpoint()
                } else if roll < 70 {
                    // A crash and recovery (checkpoint load and WAL replay); open transactions die.
                    engine.crash()
                    open.removeAll()
                    engine = try StorageEngine(directory: directory, options: options)
                    #expect(engine.assertVacuumMapInvariant() == 0, "seed \(seed) step \(step) after recovery")
                } else {
                    let freeze = random.chance(60)
                    engine.vacuum(freeze: freeze)
                    vacuums += 1
                    checkAfterVacuum(engine, freeze: freeze, seed: seed, step: step)
                }
                #expect(engine.assertVacuumMapInvariant() == 0, "seed \(seed) step \(step)")
            }
            // Everything finished: a freezing pass leaves every row all-frozen and clean.
            for (xid, _) in open { try? engine.abort(xid) }
            for xid in engine.preparedTransactions() { try? await engine.abortPrepared(xid) }
            engine.vacuum(freeze: true)
            checkAfterVacuum(engine, freeze: true, seed: seed, step: -1)
            let dirtyLeft = engine.state.withLock { s in s.heap.dirty.reduce(0) { $0 + $1.count } }
            #expect(dirtyLeft == 0, "seed \(seed): rows left dirty after a final freezing pass")
            #expect(vacuums > 0)
            try engine.close()
        }
    }

    @Test("A pass over a large frozen heap with few dirty rows visits only those rows")
    func rowsScannedPerPass() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(
                directory: directory,
                options: StorageOptions(durability: .none, checkpointWALBytes: 0, vacuumCommitLogEntries: 0))
            let rows: AccountID = 100_000
            try await engine.bulkLoad(keys: 1..<(rows + 1), row: Row(balance: 100))
            // The load froze its rows once committed (COPY FREEZE): the first pass visits none of
            // them (before that change it visited every loaded row: 100,000).
            engine.vacuum(freeze: true)
            let first = engine.statistics().vacuumRowsScanned
            #expect(first == 0)
            #expect(engine.statistics().versionsFrozen >= UInt64(rows))
            // A quiet pass visits nothing.
            engine.vacuum(freeze: true)
            #expect(engine.statistics().vacuumRowsScanned == first)
            // 50 transfers: 100 rows written; the next pass visits those 100 rows, not 100,000.
            for index in 0..<50 {
                let a = AccountID(index * 1_000 + 1)
                try await engine.commitWrites([a: 99, a + 1: 101])
            }
            engine.vacuum(freeze: true)
            let scanned = engine.statistics().vacuumRowsScanned - first
            print(
                "vacuum rows scanned: first pass \(first) of \(rows) rows; after 50 transfers \(scanned) (was \(rows))")
            #expect(scanned == 100)
            #expect(engine.referenceFullScanChanges(freeze: true) == 0)
            #expect(engine.assertVacuumMapInvariant() == 0)
            #expect(engine.committedBalances()[1] == 99)
            try engine.close()
        }
    }
}

@Suite("Vacuum yields only after work")
struct VacuumYieldTests {
    // A pass gave the processor away (`sched_yield`) after every one of its 4,096 shard holds,
    // dirty or not. On a loaded machine each yield can cost a time slice, so a quiet pass called
    // on a cooperative thread took seconds and starved the process (in a full test run with
    // compilers beside it: every replicated test lost its leader election for 120 s). A pass now
    // yields only after a hold that visited rows.
    @Test("a quiet pass never yields the processor; a pass yields at most once per shard it worked in")
    func yieldsOnlyAfterWork() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(
                directory: directory,
                options: StorageOptions(durability: .none, checkpointWALBytes: 0, vacuumCommitLogEntries: 0))
            try await engine.bulkLoad(keys: 1..<1_001, row: Row(balance: 100))
            // The first pass truncates the load's commit-log entry: one chunk, one yield.
            #expect(engine.vacuum(freeze: true).processorYields <= 1)
            #expect(engine.vacuum(freeze: true).processorYields == 0)
            for index in 0..<5 {
                let a = AccountID(index * 100 + 1)
                try await engine.commitWrites([a: 99, a + 1: 101])
            }
            let report = engine.vacuum(freeze: true)
            #expect(report.processorYields >= 1)
            #expect(
                report.processorYields <= 11, "10 rows written: at most 10 shards to work in, and one truncation chunk")
            #expect(engine.vacuum(freeze: false).processorYields == 0)
            try engine.close()
        }
    }
}

@Suite("Bulk load freezes its rows")
struct BulkLoadFreezeTests {
    @Test("a committed bulk load leaves nothing for vacuum: its rows are frozen and out of the dirty sets")
    func loadIsFrozen() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(vacuumCommitLogEntries: 0))
            try await engine.bulkLoad(keys: 0..<50_000, row: Row(balance: 100))
            #expect(engine.assertVacuumMapInvariant() == 0)
            let before = engine.statistics().vacuumRowsScanned
            _ = try await engine.commitWrites([7: 1, 9: 2])
            _ = engine.vacuum(freeze: true)
            // Only the two rows written since the load (and no loaded row) are visited.
            #expect(engine.statistics().vacuumRowsScanned - before == 2)
            #expect(engine.committedRow(123)?.row.balance == 100)
            #expect(engine.assertVacuumMapInvariant() == 0)
            // The frozen load survives a crash and recovery exactly.
            let hash = engine.stateHash()
            engine.crash()
            let recovered = try StorageEngine(directory: directory, options: StorageOptions(vacuumCommitLogEntries: 0))
            #expect(recovered.stateHash() == hash)
            try recovered.close()
        }
    }
}
