import Foundation
import Testing

@testable import Storage

/// A random bank workload over one engine directory, crashed and recovered several times.
///
/// The model holds only what was acknowledged: a balance changes when `commit` returned. After
/// every recovery the committed rows must equal the model exactly, transactions in progress at
/// the crash must be gone, prepared ones must be back with their locks, and replaying the same
/// directory twice must give the same state.
private final class CrashWorkload {
    static let accounts: AccountID = 200
    static let initialBalance: Int64 = 1_000
    static let maxOpen = 6
    static let maxLeftInProgress = 2
    static let maxPrepared = 2

    struct OpenTransaction {
        let xid: TransactionID
        let snapshot: Snapshot
        /// The committed balances when the snapshot was taken: what it must read.
        let snapshotModel: [AccountID: Int64]
        var writes: [AccountID: Int64] = [:]
        /// Rows locked without writing (SELECT ... FOR UPDATE).
        var locked: Set<AccountID> = []
        /// Whether every write is known to be on disk (a later acknowledged flush covered it).
        var writesDurable = true
        /// Left running until the crash, holding its locks.
        var leftInProgress = false
    }

    let directory: String
    let seed: UInt64
    let transactions: Int
    var rng: SeededGenerator
    var engine: StorageEngine
    var durability: Durability = .fsync
    var model: [AccountID: Int64] = [:]
    /// The transaction that wrote each row's committed balance (the row's `xmin`).
    var writer: [AccountID: TransactionID] = [:]
    var open: [OpenTransaction] = []
    /// Prepared transactions and their writes (durable, awaiting a decision).
    var prepared: [TransactionID: [AccountID: Int64]] = [:]
    /// The rows each prepared transaction holds locked (written or locked for update).
    var preparedLocks: [TransactionID: Set<AccountID>] = [:]
    var highestUsedXid: TransactionID = 0
    var highestDurableXid: TransactionID = 0
    var imposeNextXid = false
    var begun = 0
    var crashes = 0
    var committed = 0
    var conflicts = 0
    /// Vacuums, checkpoints and frozen versions, summed over the engines of the run.
    var vacuums = 0
    var checkpoints = 0
    var versionsFrozen = 0

    /// Whether the maintenance thread checkpoints and vacuums (with freezing and commit-log
    /// truncation) every few commits, concurrently with the workload.
    let backgroundMaintenance: Bool

    init(directory: String, seed: UInt64, transactions: Int, backgroundMaintenance: Bool = false) throws {
        self.directory = directory
        self.seed = seed
        self.transactions = transactions
        self.backgroundMaintenance = backgroundMaintenance
        rng = SeededGenerator(seed: seed)
        engine = try StorageEngine(
            directory: directory,
            options: backgroundMaintenance
                ? StorageOptions(checkpointWALBytes: 8 << 10, vacuumCommitLogEntries: 16) : StorageOptions())
    }

    var comment: Comment { "seed \(seed), transaction \(begun), crash \(crashes)" }

    func run() async throws {
        let setUp = try engine.begin()
        let snapshot = try engine.snapshot(for: setUp)
        for key in 0..<Self.accounts {
            try engine.insert(key, Row(balance: Self.initialBalance), for: setUp, snapshot: snapshot)
            model[key] = Self.initialBalance
            writer[key] = setUp
        }
        try await engine.commit(setUp)
        highestUsedXid = setUp
        highestDurableXid = setUp
        var nextCrash = Int.random(in: 300...700, using: &rng)
        while begun < transactions {
            if begun >= nextCrash {
                try await crashAndRecover()
                nextCrash = begun + Int.random(in: 300...700, using: &rng)
            }
            try await step()
        }
        try await crashAndRecover()
    }

    // MARK: - Steps

    func step() async throws {
        let roll = Int.random(in: 0..<1_000, using: &rng)
        switch roll {
        case 0..<300 where open.count < Self.maxOpen: try beginTransaction()
        case 0..<650: try transfer()
        case 650..<800: try await commitSome()
        case 800..<870: try abortOne()
        case 870..<890: leaveOneInProgress()
        case 890..<920: try await prepareOrResolve()
        case 920..<928:
            try engine.checkpoint()
            markOpenWritesDurable()
        case 928..<935: engine.vacuum(freeze: rng.chance(50))
        case 935..<940 where backgroundMaintenance: engine.waitForMaintenance()
        default: try readSome()
        }
    }

    func beginTransaction() throws {
        let xid: TransactionID
        if imposeNextXid || rng.chance(50) {
            // L2 imposes its (sparse) timestamps as ids.
            xid = try engine.begin(xid: highestUsedXid + UInt64.random(in: 1...5, using: &rng))
            imposeNextXid = false
        } else {
            xid = try engine.begin()
        }
        #expect(xid > highestUsedXid, comment)
        highestUsedXid = max(highestUsedXid, xid)
        let snapshot = try engine.snapshot(for: xid)
        open.append(OpenTransaction(xid: xid, snapshot: snapshot, snapshotModel: model))
        begun += 1
    }

    /// The indices of open transactions this workload may still drive.
    var drivable: [Int] { open.indices.filter { !open[$0].leftInProgress } }

    func expectedRead(_ transaction: OpenTransaction, _ key: AccountID) -> Int64? {
        transaction.writes[key] ?? transaction.snapshotModel[key]
    }

    func readSome() throws {
        guard let index = drivable.randomElement(using: &rng) else { return }
        let transaction = open[index]
        for _ in 0..<3 {
            let key = AccountID.random(in: 0..<Self.accounts, using: &rng)
            let row = try engine.read(key, snapshot: transaction.snapshot)
            #expect(row?.balance == expectedRead(transaction, key), "read of \(key) by \(transaction.xid); \(comment)")
        }
    }

    func transfer() throws {
        guard let index = drivable.randomElement(using: &rng) else { return }
        let transaction = open[index]
        let from = AccountID.random(in: 0..<Self.accounts, using: &rng)
        var to = AccountID.random(in: 0..<(Self.accounts - 1), using: &rng)
        if to >= from { to += 1 }
        guard let fromRow = try engine.read(from, snapshot: transaction.snapshot),
            let toRow = try engine.read(to, snapshot: transaction.snapshot)
        else {
            Issue.record("an account is missing; \(comment)")
            return
        }
        #expect(fromRow.balance == expectedRead(transaction, from), comment)
        #expect(toRow.balance == expectedRead(transaction, to), comment)
        let amount = Int64.random(in: 1...50, using: &rng)
        do throws(StorageError) {
            for (key, balance) in [(from, fromRow.balance - amount), (to, toRow.balance + amount)] {
                try engine.write(key, Row(balance: balance), for: transaction.xid, snapshot: transaction.snapshot)
                open[index].writes[key] = balance
                open[index].writesDurable = false
            }
            if rng.chance(10) {
                let key = AccountID.random(in: 0..<Self.accounts, using: &rng)
                try engine.lock(key, for: transaction.xid, snapshot: transaction.snapshot)
                open[index].locked.insert(key)
            }
        } catch {
            switch error {
            case .rowLocked(let key, let holder):
                let holdsIt =
                    open.contains { $0.xid == holder && ($0.writes[key] != nil || $0.locked.contains(key)) }
                    || preparedLocks[holder]?.contains(key) == true
                #expect(holdsIt, "rowLocked names \(holder) for \(key), which does not hold it; \(comment)")
            case .concurrentUpdate(_, let by):
                let newer = by >= transaction.snapshot.xmax || transaction.snapshot.inProgress.contains(by)
                #expect(newer, "concurrentUpdate names \(by), visible to the snapshot; \(comment)")
            default: throw error
            }
            conflicts += 1
            try engine.abort(transaction.xid)
            open.remove(at: index)
        }
    }

    func markOpenWritesDurable() {
        for index in open.indices { open[index].writesDurable = true }
    }

    func apply(_ writes: [AccountID: Int64], of xid: TransactionID) {
        for (key, balance) in writes {
            model[key] = balance
            writer[key] = xid
        }
        // A read-only commit writes no WAL, so recovery cannot know its id.
        if !writes.isEmpty { highestDurableXid = max(highestDurableXid, xid) }
        committed += 1
    }

    /// Commits up to four open transactions concurrently (group commit), and sometimes a
    /// prepared one.
    func commitSome() async throws {
        var chosen = Array(drivable.shuffled(using: &rng).prefix(Int.random(in: 1...4, using: &rng)))
        chosen.sort()
        var batch = chosen.map { (open[$0].xid, open[$0].writes) }
        if let xid = prepared.keys.sorted().randomElement(using: &rng), rng.chance(5) {
            batch.append((xid, prepared.removeValue(forKey: xid)!))
            preparedLocks[xid] = nil
        }
        guard !batch.isEmpty else { return }
        for index in chosen.reversed() { open.remove(at: index) }
        let engine = self.engine
        let results = await withTaskGroup(of: (TransactionID, Result<CommitReceipt, StorageError>).self) { group in
            for (xid, _) in batch {
                group.addTask {
                    do throws(StorageError) { return (xid, .success(try await engine.commit(xid))) } catch {
                        return (xid, .failure(error))
                    }
                }
            }
            var results: [TransactionID: Result<CommitReceipt, StorageError>] = [:]
            for await (xid, result) in group { results[xid] = result }
            return results
        }
        var flushed = false
        for (xid, writes) in batch {
            switch results[xid] {
            case .success(let receipt):
                apply(writes, of: xid)
                flushed = flushed || receipt.lsn != nil
            case .failure(let error): Issue.record("commit of \(xid) failed: \(error); \(comment)")
            case nil: Issue.record("no result for \(xid)")
            }
        }
        if flushed { markOpenWritesDurable() }
    }

    func abortOne() throws {
        guard let index = drivable.randomElement(using: &rng) else { return }
        try engine.abort(open[index].xid)
        open.remove(at: index)
    }

    func leaveOneInProgress() {
        guard open.filter(\.leftInProgress).count < Self.maxLeftInProgress,
            let index = drivable.filter({ !open[$0].writes.isEmpty }).randomElement(using: &rng)
        else { return }
        open[index].leftInProgress = true
    }

    func prepareOrResolve() async throws {
        if prepared.count < Self.maxPrepared, rng.chance(70),
            let index = drivable.filter({ !open[$0].writes.isEmpty }).randomElement(using: &rng)
        {
            let transaction = open.remove(at: index)
            try await engine.prepare(transaction.xid)
            prepared[transaction.xid] = transaction.writes
            preparedLocks[transaction.xid] = transaction.locked.union(transaction.writes.keys)
            highestDurableXid = max(highestDurableXid, transaction.xid)
            markOpenWritesDurable()
        } else if let xid = prepared.keys.sorted().randomElement(using: &rng), rng.chance(40) {
            let writes = prepared.removeValue(forKey: xid)!
            preparedLocks[xid] = nil
            if rng.chance(50) {
                try await engine.commit(xid)
                apply(writes, of: xid)
            } else {
                try await engine.abortPrepared(xid)
            }
            markOpenWritesDurable()
        }
    }

    // MARK: - Crash and recovery

    func crashAndRecover() async throws {
        let statistics = engine.statistics()
        vacuums += Int(statistics.vacuums)
        checkpoints += Int(statistics.checkpoints)
        versionsFrozen += Int(statistics.versionsFrozen)
        let losingUnsyncedWrites = durability == .fsync && rng.chance(50)
        // Transactions whose commit raced the crash: committed or not, recovery decides.
        var inDoubt: [(TransactionID, [AccountID: Int64])] = []
        if rng.chance(50), !drivable.isEmpty {
            var chosen = Array(drivable.shuffled(using: &rng).prefix(Int.random(in: 1...4, using: &rng)))
            chosen.sort()
            let batch = chosen.map { (open[$0].xid, open[$0].writes) }
            for index in chosen.reversed() { open.remove(at: index) }
            let engine = self.engine
            let results = await withTaskGroup(of: (TransactionID, Bool).self) { group in
                for (xid, _) in batch {
                    group.addTask {
                        do throws(StorageError) {
                            try await engine.commit(xid)
                            return (xid, true)
                        } catch { return (xid, false) }
                    }
                }
                group.addTask {
                    engine.crash(losingUnsyncedWrites: losingUnsyncedWrites)
                    return (0, false)
                }
                var acknowledged: Set<TransactionID> = []
                for await (xid, ok) in group where ok { acknowledged.insert(xid) }
                return acknowledged
            }
            for (xid, writes) in batch {
                if results.contains(xid) { apply(writes, of: xid) } else { inDoubt.append((xid, writes)) }
            }
        } else {
            engine.crash(losingUnsyncedWrites: losingUnsyncedWrites)
        }
        crashes += 1
        let inProgressAtCrash = open
        open = []

        durability = rng.chance(50) ? .fsync : .none
        let options = StorageOptions(
            durability: durability,
            checkpointWALBytes: backgroundMaintenance
                ? UInt64.random(in: 2_048...16_384, using: &rng) : rng.chance(30) ? 32 << 10 : 0,
            pruneChainLength: rng.chance(50) ? 2 : 8,
            vacuumCommitLogEntries: backgroundMaintenance ? Int.random(in: 4...64, using: &rng) : 1 << 18)
        engine = try StorageEngine(directory: directory, options: options)

        for (xid, writes) in inDoubt {
            switch engine.status(of: xid) {
            case .committed: apply(writes, of: xid)
            case .prepared: Issue.record("in-doubt commit \(xid) came back prepared; \(comment)")
            case .inProgress, .aborted: break
            }
        }
        try checkRecoveredState(inProgressAtCrash: inProgressAtCrash)

        // Replay is idempotent: crash at once and recover again from the same directory.
        let hash = engine.stateHash()
        let rows = engine.committedRows()
        let preparedLocks = engine.preparedLocks()
        engine.crash()
        engine = try StorageEngine(directory: directory, options: options)
        #expect(engine.stateHash() == hash, comment)
        #expect(engine.committedRows() == rows, comment)
        #expect(engine.preparedLocks() == preparedLocks, comment)
        #expect(engine.recovery.truncatedBytes == 0, comment)
        imposeNextXid = true
    }

    func checkRecoveredState(inProgressAtCrash: [OpenTransaction]) throws {
        let rows = engine.committedRows()
        let balances = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.row.balance) })
        #expect(balances == model, "committed rows differ from the acknowledged commits; \(comment)")
        #expect(engine.rowsWithDuplicateVersions == [], "replay applied a record twice; \(comment)")
        for row in rows where writer[row.key] != row.xmin {
            Issue.record("row \(row.key) has xmin \(row.xmin), the model says \(writer[row.key] ?? 0); \(comment)")
        }
        #expect(balances.values.reduce(0, +) == Int64(Self.accounts) * Self.initialBalance, comment)
        #expect(engine.highestTransactionID >= highestDurableXid, comment)

        #expect(engine.preparedTransactions() == prepared.keys.sorted(), comment)
        let locks = engine.preparedLocks()
        for xid in prepared.keys {
            #expect(Set(locks[xid] ?? []) == preparedLocks[xid], "locks of prepared \(xid); \(comment)")
            #expect(engine.status(of: xid) == .prepared, comment)
        }
        for transaction in inProgressAtCrash {
            let status = engine.status(of: transaction.xid)
            #expect(!engine.isActive(transaction.xid), "\(transaction.xid) survived the crash; \(comment)")
            #expect(status != .committed && status != .prepared, "\(transaction.xid) is \(status); \(comment)")
            if transaction.writesDurable, !transaction.writes.isEmpty {
                #expect(status == .aborted, "\(transaction.xid) wrote durably, is \(status); \(comment)")
            }
        }
    }
}

@Suite("Crash recovery")
struct CrashRecoveryTests {
    @Test(
        "random transactions with random crashes: exactly the acknowledged commits survive",
        arguments: [0x5EED_0001 as UInt64, 0x5EED_0002])
    func randomCrashes(seed: UInt64) async throws {
        try await withTemporaryDirectory { directory in
            let workload = try CrashWorkload(directory: directory, seed: seed, transactions: 3_000)
            try await workload.run()
            #expect(workload.crashes >= 4, "seed \(seed)")
            #expect(workload.committed > 500, "seed \(seed)")
            #expect(workload.conflicts > 0, "seed \(seed)")
            try workload.engine.close()
        }
    }

    @Test(
        "random crashes while the maintenance thread checkpoints and freezes every few commits",
        arguments: [0x5EED_0101 as UInt64, 0x5EED_0102])
    func randomCrashesWithBackgroundMaintenance(seed: UInt64) async throws {
        try await withTemporaryDirectory { directory in
            let workload = try CrashWorkload(
                directory: directory, seed: seed, transactions: 3_000, backgroundMaintenance: true)
            try await workload.run()
            #expect(workload.crashes >= 4, "seed \(seed)")
            #expect(workload.committed > 500, "seed \(seed)")
            #expect(workload.vacuums > 20 && workload.checkpoints > 20, "seed \(seed)")
            #expect(workload.versionsFrozen > 0, "seed \(seed)")
            try workload.engine.close()
        }
    }

    @Test("recovering twice from the same directory gives the same state")
    func recoveryIsIdempotent() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10, 2: 20])
            try await engine.commitWrites([1: 11, 3: 30])
            let running = try engine.begin()
            try engine.write(2, Row(balance: 99), for: running, snapshot: nil)
            try engine.checkpoint()
            try await engine.commitWrites([4: 40])
            engine.crash()

            let first = try StorageEngine(directory: directory)
            let hash = first.stateHash()
            #expect(first.committedBalances() == [1: 11, 2: 20, 3: 30, 4: 40])
            #expect(first.status(of: running) == .aborted)
            first.crash()
            let second = try StorageEngine(directory: directory)
            #expect(second.stateHash() == hash)
            #expect(second.committedRows() == first.committedRows())
            #expect(second.recovery.recordsReplayed == first.recovery.recordsReplayed)
            try second.close()
        }
    }

    @Test("a power failure loses only what was never acknowledged")
    func powerFailure() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10])
            let unacknowledged = try engine.begin()
            try engine.write(1, Row(balance: 5), for: unacknowledged, snapshot: nil)
            engine.crash(losingUnsyncedWrites: true)
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.committedBalances() == [1: 10])
            #expect(recovered.status(of: unacknowledged) != .committed)
            try await recovered.commitWrites([1: 12])
            #expect(recovered.committedBalances() == [1: 12])
            try recovered.close()
        }
    }
}

/// Which record ends the log in a torn-tail test.
enum TailRecord: String, CaseIterable, Sendable {
    /// The last transaction's commit record: cutting it loses that (unacknowledged) commit.
    case commit
    /// A write record with a payload, of a transaction still running at the crash.
    case write
}

@Suite("Crash recovery: torn and corrupt WAL tails")
struct TornTailTests {
    struct Base {
        var directory: String
        var model: [AccountID: Int64]
        var lastXid: TransactionID
        var segmentName: String
        var last: SegmentRecord
    }

    /// Commits five transfers, then ends the log with `tail`, and closes the engine cleanly.
    private func makeBase(_ tail: TailRecord, in root: String) async throws -> Base {
        let directory = root + "/base"
        let engine = try StorageEngine(directory: directory)
        var model: [AccountID: Int64] = [:]
        for round in 1...5 {
            let writes: [AccountID: Int64] = [AccountID(round): Int64(round * 10), 100: Int64(round)]
            try await engine.commitWrites(writes)
            model.merge(writes) { $1 }
        }
        let lastXid = try engine.begin()
        try engine.write(7, Row(balance: 777), for: lastXid, snapshot: nil)
        switch tail {
        case .commit:
            try engine.write(100, Row(balance: 999), for: lastXid, snapshot: nil)
            try await engine.commit(lastXid)
        case .write:
            try engine.write(
                8, Row(balance: 888, payload: [UInt8](repeating: 0x5A, count: 100)), for: lastXid, snapshot: nil)
        }
        try engine.close()
        let segment = try #require(WriteAheadLog.segments(in: directory).last)
        let last = try #require(try segmentRecords(segment.path).last)
        switch tail {
        case .commit: #expect(last.record == .commit(xid: lastXid))
        case .write: #expect(last.record.xid == lastXid && last.length > 100)
        }
        return Base(
            directory: directory, model: model, lastXid: lastXid,
            segmentName: URL(fileURLWithPath: segment.path).lastPathComponent, last: last)
    }

    /// Recovers `directory`, checks that exactly the earlier commits are there, then that new
    /// commits work and survive another crash.
    private func checkRecovery(
        _ directory: String, base: Base, truncated: Int, _ comment: Comment
    ) async throws {
        let engine = try StorageEngine(directory: directory)
        #expect(engine.recovery.truncatedBytes == truncated, comment)
        #expect(engine.committedBalances() == base.model, comment)
        #expect(engine.status(of: base.lastXid) == .aborted, comment)
        let xid = try await engine.commitWrites([7: 1, 200: 2])
        #expect(xid > base.lastXid, comment)
        engine.crash()
        let again = try StorageEngine(directory: directory)
        #expect(again.recovery.truncatedBytes == 0, comment)
        #expect(again.committedBalances() == base.model.merging([7: 1, 200: 2]) { $1 }, comment)
        try again.close()
    }

    @Test(
        "a log cut at every byte offset inside its last record recovers the earlier commits",
        arguments: TailRecord.allCases)
    func cutAtEveryOffset(_ tail: TailRecord) async throws {
        try await withTemporaryDirectory { root in
            let base = try await makeBase(tail, in: root)
            for cut in 0..<base.last.length {
                let directory = root + "/cut-\(cut)"
                try copyDirectory(base.directory, to: directory)
                let segment = directory + "/" + base.segmentName
                try writeFileBytes(Array(try fileBytes(segment).prefix(base.last.offset + cut)), to: segment)
                try await checkRecovery(directory, base: base, truncated: cut, "cut \(cut) bytes into the last record")
                try FileManager.default.removeItem(atPath: directory)
            }
        }
    }

    @Test("a corrupt byte anywhere in the last record cuts that record off", arguments: TailRecord.allCases)
    func corruptByte(_ tail: TailRecord) async throws {
        try await withTemporaryDirectory { root in
            let base = try await makeBase(tail, in: root)
            for offset in 0..<base.last.length {
                let directory = root + "/corrupt-\(offset)"
                try copyDirectory(base.directory, to: directory)
                let segment = directory + "/" + base.segmentName
                var bytes = try fileBytes(segment)
                bytes[base.last.offset + offset] ^= 0xFF
                try writeFileBytes(bytes, to: segment)
                try await checkRecovery(
                    directory, base: base, truncated: base.last.length, "byte \(offset) of the last record flipped")
                try FileManager.default.removeItem(atPath: directory)
            }
        }
    }
}

@Suite("Two-phase commit across a crash")
struct PreparedTransactionTests {
    /// Prepares a transaction that moved 30 from row 1 to row 2, with or without a checkpoint
    /// after the prepare, crashes, and returns the recovered engine.
    private func prepareAndCrash(_ directory: String, checkpoint: Bool) async throws -> (StorageEngine, TransactionID) {
        let engine = try StorageEngine(directory: directory)
        try await engine.commitWrites([1: 100, 2: 100, 3: 100])
        let xid = try engine.begin()
        let snapshot = try engine.snapshot(for: xid)
        try engine.write(1, Row(balance: 70), for: xid, snapshot: snapshot)
        try engine.write(2, Row(balance: 130), for: xid, snapshot: snapshot)
        try await engine.prepare(xid)
        #expect(engine.status(of: xid) == .prepared)
        #expect(throws: StorageError.self) { try engine.write(3, Row(balance: 1), for: xid, snapshot: nil) }
        #expect(throws: StorageError.self) { try engine.abort(xid) }
        if checkpoint { try engine.checkpoint() }
        engine.crash(losingUnsyncedWrites: true)
        let recovered = try StorageEngine(directory: directory)
        #expect(recovered.recovery.preparedRestored == 1)
        #expect(recovered.recovery.checkpointLoaded == checkpoint)
        #expect(recovered.preparedTransactions() == [xid])
        #expect(Set(recovered.preparedLocks()[xid] ?? []) == [1, 2])
        #expect(recovered.status(of: xid) == .prepared)
        #expect(recovered.committedBalances() == [1: 100, 2: 100, 3: 100])
        // Its rows are still locked: another writer is refused, naming it.
        let other = try recovered.begin()
        #expect(other > xid)
        #expect(throws: StorageError.rowLocked(key: 1, holder: xid)) {
            try recovered.write(1, Row(balance: 0), for: other, snapshot: recovered.snapshot(for: other))
        }
        try recovered.abort(other)
        return (recovered, xid)
    }

    @Test(
        "a prepared transaction survives a crash with its locks; COMMIT PREPARED makes it visible",
        arguments: [false, true])
    func commitPrepared(checkpoint: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let (engine, xid) = try await prepareAndCrash(directory, checkpoint: checkpoint)
            let reader = try engine.begin()
            let before = try engine.snapshot(for: reader)
            try await engine.commit(xid)
            #expect(engine.preparedTransactions().isEmpty)
            #expect(try engine.read(1, snapshot: before)?.balance == 100, "committed after the reader's snapshot")
            #expect(try engine.read(1, snapshot: engine.snapshot(for: reader))?.balance == 70)
            let writer = try engine.begin()
            try engine.write(1, Row(balance: 60), for: writer, snapshot: engine.snapshot(for: writer))
            try engine.abort(writer)
            engine.crash()
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.preparedTransactions().isEmpty)
            #expect(recovered.status(of: xid) == .committed)
            #expect(recovered.committedBalances() == [1: 70, 2: 130, 3: 100])
            try recovered.close()
        }
    }

    @Test("a row a prepared transaction locked without writing stays locked after a crash", arguments: [false, true])
    func lockOnlyRowsStayLocked(checkpoint: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 100, 2: 100])
            let xid = try engine.begin()
            let snapshot = try engine.snapshot(for: xid)
            try engine.lock(2, for: xid, snapshot: snapshot)
            try engine.write(1, Row(balance: 70), for: xid, snapshot: snapshot)
            if checkpoint { try engine.checkpoint() }
            try await engine.prepare(xid)
            engine.crash()
            let recovered = try StorageEngine(directory: directory)
            #expect(Set(recovered.preparedLocks()[xid] ?? []) == [1, 2])
            let other = try recovered.begin()
            #expect(throws: StorageError.rowLocked(key: 2, holder: xid)) {
                try recovered.write(2, Row(balance: 0), for: other, snapshot: nil)
            }
            try recovered.abort(other)
            try await recovered.commit(xid)
            try await recovered.commitWrites([2: 50])
            #expect(recovered.committedBalances() == [1: 70, 2: 50])
            try recovered.close()
        }
    }

    @Test("ROLLBACK PREPARED after a crash releases the locks and stays aborted", arguments: [false, true])
    func abortPrepared(checkpoint: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let (engine, xid) = try await prepareAndCrash(directory, checkpoint: checkpoint)
            try await engine.abortPrepared(xid)
            #expect(engine.preparedTransactions().isEmpty)
            #expect(engine.status(of: xid) == .aborted)
            try await engine.commitWrites([1: 99])
            engine.crash(losingUnsyncedWrites: true)
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.preparedTransactions().isEmpty)
            #expect(recovered.status(of: xid) == .aborted)
            #expect(recovered.committedBalances() == [1: 99, 2: 100, 3: 100])
            try recovered.close()
        }
    }
}
