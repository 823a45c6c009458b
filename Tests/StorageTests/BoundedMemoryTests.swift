import Synchronization
import Testing

@testable import Storage

@Suite("Bounded memory: freezing, commit-log truncation, background vacuum")
struct BoundedMemoryTests {
    static let accounts: AccountID = 20
    static let ledgerBase: AccountID = 1 << 40

    /// One transfer as the bank workload does it: two account updates and one ledger row.
    static func transfer(
        _ engine: StorageEngine, from: AccountID, to: AccountID, amount: Int64, ledger: AccountID
    ) async throws -> TransactionID {
        let xid = try engine.begin()
        let snapshot = try engine.snapshot(for: xid)
        let source = try #require(try engine.read(from, snapshot: snapshot))
        let target = try #require(try engine.read(to, snapshot: snapshot))
        try engine.write(from, Row(balance: source.balance - amount), for: xid, snapshot: snapshot)
        try engine.write(to, Row(balance: target.balance + amount), for: xid, snapshot: snapshot)
        try engine.insert(ledger, Row(balance: amount, payload: [1, 2, 3, 4]), for: xid, snapshot: snapshot)
        try await engine.commit(xid)
        return xid
    }

    @Test(
        "commit-log entries and heap versions stay bounded over many transfers; xmins survive freezing and recovery",
        arguments: [0xB0_0001 as UInt64, 0xB0_0002])
    func boundedOverManyTransfers(seed: UInt64) async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(
                durability: .none, checkpointWALBytes: 256 << 10, pruneChainLength: 4, vacuumCommitLogEntries: 200)
            let engine = try StorageEngine(directory: directory, options: options)
            try await engine.bulkLoad(keys: 0..<Self.accounts, row: Row(balance: 1_000))
            var rng = SplitMix64(seed: seed)
            var ledgerWriters: [AccountID: TransactionID] = [:]
            var samples: [(commitLog: Int, versions: Int)] = []
            let transfers = 3_000
            let interval = 250
            for index in 0..<transfers {
                let from = rng.next() % Self.accounts
                let to = (from + 1 + rng.next() % (Self.accounts - 1)) % Self.accounts
                let ledger = Self.ledgerBase + AccountID(index)
                ledgerWriters[ledger] = try await Self.transfer(engine, from: from, to: to, amount: 1, ledger: ledger)
                if (index + 1) % interval == 0 {
                    // Background vacuum was asked for past the threshold: wait for it by
                    // structure (it runs on the maintenance thread), then sample.
                    engine.waitForMaintenance()
                    let statistics = engine.statistics()
                    samples.append((statistics.commitLogEntries, statistics.versionsInHeap))
                }
            }
            let comment: Comment = "seed \(seed), samples \(samples)"
            // Bounded: never more than the threshold plus one interval of commits, however long
            // the run (without freezing every ledger row's xmin would pin its entry: 3,000).
            for sample in samples {
                #expect(sample.commitLog <= 200 + interval, comment)
                let ledgerRows = ledgerWriters.count
                #expect(
                    sample.versions <= ledgerRows + Int(Self.accounts) * (options.pruneChainLength + 1), comment)
            }
            #expect(engine.statistics().vacuums >= 5, comment)
            #expect(engine.statistics().versionsFrozen > 0, comment)

            // Nothing running: a freezing vacuum leaves one frozen version per row and an empty log.
            engine.vacuum(freeze: true)
            let statistics = engine.statistics()
            #expect(statistics.commitLogEntries == 0, comment)
            #expect(statistics.versionsInHeap == ledgerWriters.count + Int(Self.accounts), comment)
            #expect(engine.heapVersions.values.allSatisfy { $0.count == 1 && $0[0].frozen }, comment)

            // The cross-layer identity: every ledger row still names the transaction that wrote it.
            let rows = engine.committedRows()
            let xmins = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.xmin) })
            for (key, xid) in ledgerWriters { #expect(xmins[key] == xid, "ledger row \(key); \(comment)") }
            let balances = rows.filter { $0.key < Self.accounts }.map(\.row.balance)
            #expect(balances.reduce(0, +) == Int64(Self.accounts) * 1_000, comment)

            // Recovery after freezing and truncation (from the last checkpoint plus the WAL)
            // gives the same rows, xmins included; a transaction after it sees them.
            let hash = engine.stateHash()
            engine.crash()
            let recovered = try StorageEngine(directory: directory, options: options)
            #expect(recovered.committedRows() == rows, comment)
            #expect(recovered.stateHash() == hash, comment)
            _ = try await Self.transfer(recovered, from: 0, to: 1, amount: 5, ledger: Self.ledgerBase - 1)
            #expect(recovered.committedBalances()[Self.ledgerBase - 1] == 5, comment)
            try recovered.close()
        }
    }

    @Test("a vacuum pass gives back the room updated rows' chains grew, so memory returns to one version a row")
    func vacuumReleasesSpareChainCapacity() async throws {
        try await withTemporaryDirectory { directory in
            // No background work: the passes below are the only ones.
            let options = StorageOptions(durability: .none, checkpointWALBytes: 0, vacuumCommitLogEntries: 0)
            let engine = try StorageEngine(directory: directory, options: options)
            try await engine.bulkLoad(keys: 0..<Self.accounts, row: Row(balance: 1_000))
            var rng = SplitMix64(seed: 0xB0_0003)
            var ledger = Self.ledgerBase
            // Slots an array of `count` versions gets when allocated for exactly that many (the
            // allocator may round up).
            func exactSlots(_ count: Int) -> Int {
                var fresh: [TupleVersion] = []
                fresh.reserveCapacity(count)
                return fresh.capacity
            }
            func spareSlots() -> Int {
                engine.heapVersions.values.reduce(0) { $0 + $1.capacity - exactSlots($1.count) }
            }
            for round in 1...3 {
                // 20 accounts, 100 transfers: every account is updated about 10 times, so its
                // chain grows to several versions (pruned on write past 8).
                for _ in 0..<100 {
                    let from = rng.next() % Self.accounts
                    let to = (from + 1 + rng.next() % (Self.accounts - 1)) % Self.accounts
                    ledger += 1
                    _ = try await Self.transfer(engine, from: from, to: to, amount: 1, ledger: ledger)
                }
                #expect(spareSlots() > 0, "round \(round): updated chains have grown")
                engine.vacuum(freeze: true)
                let versions = engine.heapVersions
                #expect(versions.count == Int(Self.accounts) + 100 * round, "round \(round)")
                #expect(versions.values.allSatisfy { $0.count == 1 && $0[0].frozen }, "round \(round)")
                #expect(spareSlots() == 0, "round \(round): every chain back to exactly its versions")
            }
            let balances = engine.committedRows().filter { $0.key < Self.accounts }.map(\.row.balance)
            #expect(balances.reduce(0, +) == Int64(Self.accounts) * 1_000)
            try engine.close()
        }
    }

    @Test("a truncating vacuum gives back the commit log's room, so the log's memory follows its entries")
    func truncationReleasesCommitLogCapacity() async throws {
        try await withTemporaryDirectory { directory in
            // No background vacuum: the log grows to every transfer, then one pass truncates it.
            let options = StorageOptions(durability: .none, checkpointWALBytes: 0, vacuumCommitLogEntries: 0)
            let engine = try StorageEngine(directory: directory, options: options)
            try await engine.bulkLoad(keys: 0..<Self.accounts, row: Row(balance: 1_000))
            var rng = SplitMix64(seed: 0xB0_0004)
            let transfers = 8 * CommitLog.retainedCapacity
            for round in 1...2 {
                for index in 0..<transfers {
                    let from = rng.next() % Self.accounts
                    let to = (from + 1 + rng.next() % (Self.accounts - 1)) % Self.accounts
                    let ledger = Self.ledgerBase + AccountID(round * transfers + index)
                    _ = try await Self.transfer(engine, from: from, to: to, amount: 1, ledger: ledger)
                }
                let grown = engine.state.withLock { ($0.commitLog.count, $0.commitLog.capacity) }
                #expect(grown.0 >= transfers, "round \(round)")
                #expect(grown.1 >= transfers, "round \(round)")
                engine.vacuum(freeze: true)
                let truncated = engine.state.withLock { ($0.commitLog.count, $0.commitLog.capacity) }
                #expect(truncated.0 == 0, "round \(round)")
                // Storage for `retainedCapacity` entries (a dictionary's room is a power of two
                // times 3/4), not for the `transfers` entries it held.
                #expect(truncated.1 <= 2 * CommitLog.retainedCapacity, "round \(round): capacity \(truncated.1)")
            }
            try engine.close()
        }
    }

    @Test("a frozen version is visible to every snapshot until a replacement commits before it")
    func frozenVisibility() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            let writer = try await engine.commitWrites([1: 10])
            engine.vacuum(freeze: true)
            #expect(engine.heapVersions[1]?.first?.frozen == true)
            #expect(engine.heapVersions[1]?.first?.xmin == writer)
            #expect(engine.status(of: writer) == .inProgress, "the log forgot the frozen creator")
            let reader = try engine.begin()
            let old = try engine.snapshot(for: reader)
            let updater = try await engine.commitWrites([1: 11])
            #expect(try engine.read(1, snapshot: old)?.balance == 10)
            let late = try engine.begin()
            #expect(try engine.read(1, snapshot: engine.snapshot(for: late))?.balance == 11)
            // First-updater-wins against a frozen live version: no conflict for a newer snapshot.
            try engine.write(1, Row(balance: 12), for: late, snapshot: engine.snapshot(for: late))
            try await engine.commit(late)
            try await engine.commit(reader)
            #expect(engine.committedRows().first?.xmin == late)
            #expect(updater < late)
            try engine.close()
        }
    }

    @Test("a long transaction holding the horizon back does not make background vacuum run back to back")
    func heldHorizonBoundsVacuums() async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(durability: .none, checkpointWALBytes: 0, vacuumCommitLogEntries: 50)
            let engine = try StorageEngine(directory: directory, options: options)
            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            for index in 0..<400 as Range<AccountID> {
                try await engine.commitWrites([index: 1])
                engine.waitForMaintenance()
            }
            // Nothing below the reader can be truncated; a vacuum is due every 50 entries past
            // what the last one left, not after every commit.
            let statistics = engine.statistics()
            #expect(statistics.vacuums <= 400 / 50, "\(statistics.vacuums) vacuums")
            #expect(statistics.vacuums >= 1)
            #expect(try engine.read(0, snapshot: snapshot) == nil)
            try await engine.commit(reader)
            engine.vacuum(freeze: true)
            #expect(engine.statistics().commitLogEntries == 0)
            try engine.close()
        }
    }
}
