import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Storage

/// A file system that calls a hook before every call made on the thread that registered itself
/// with `runsHook()` (the test's checkpointer): the hook may act on the engine between two steps of a checkpoint, and
/// once it returns true the process is dead: that call and every later one on the thread fail
/// without touching the disk.
private final class StepFileSystem: StorageFileSystem {
    typealias Hook = @Sendable (_ operation: String, _ path: String) -> Bool
    private let base = PosixFileSystem.shared
    private let hook = Mutex<Hook?>(nil)
    private let hookThread = Mutex<pthread_t?>(nil)

    /// Makes the calling thread the one whose calls run the hook.
    func runsHook() {
        let current = pthread_self()
        hookThread.withLock { $0 = current }
    }

    func set(_ newHook: Hook?) {
        hook.withLock { $0 = newHook }
    }

    private func step(_ operation: String, _ path: String) throws(StorageError) {
        guard let thread = hookThread.withLock({ $0 }), pthread_equal(thread, pthread_self()) != 0,
            let body = hook.withLock({ $0 })
        else { return }
        if body(operation, path) { throw StorageError.io(path: path, message: "\(operation): the process died (test)") }
    }

    func open(_ path: String, truncating: Bool) throws(StorageError) -> Int32 {
        try step("open", path)
        return try base.open(path, truncating: truncating)
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        try step("write", path)
        try base.write(fd, bytes, path: path)
    }
    func dataSync(_ fd: Int32, path: String) throws(StorageError) {
        try step("dataSync", path)
        try base.dataSync(fd, path: path)
    }
    func close(_ fd: Int32) { base.close(fd) }
    func resize(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        try base.resize(fd, to: size, path: path)
    }
    func rename(_ source: String, to destination: String) throws(StorageError) {
        try step("rename", destination)
        try base.rename(source, to: destination)
    }
    func syncDirectory(_ path: String) throws(StorageError) {
        try step("syncDirectory", path)
        try base.syncDirectory(path)
    }
    func truncate(_ path: String, to size: Int) throws(StorageError) {
        try step("truncate", path)
        try base.truncate(path, to: size)
    }
    func remove(_ path: String) throws(StorageError) {
        try step("remove", path)
        try base.remove(path)
    }
}

/// The model of one run: acknowledged balances and writers, driven from the checkpointer's
/// thread by the hook (one thread at a time; the mutex only makes that checkable).
private final class CheckpointCrashModel: Sendable {
    struct State {
        var rng: SeededGenerator
        var balances: [AccountID: Int64] = [:]
        var writer: [AccountID: TransactionID] = [:]
        var calls = 0
        var transfers = 0
        var dead = false
    }

    let state: Mutex<State>

    init(seed: UInt64) {
        state = Mutex(State(rng: SeededGenerator(seed: seed)))
    }
}

/// Whether a commit started on another task was acknowledged (waited for from a plain thread).
private final class Acknowledgement: Sendable {
    let value = Mutex(false)
}

@Suite("Review findings: a crash at every step of a fuzzy checkpoint")
struct CheckpointCrashStepTests {
    static let accounts: AccountID = 64
    static let initial: Int64 = 1_000
    /// Rows the in-progress and the prepared transaction hold; transfers use the others.
    static let runningKey: AccountID = 0
    static let preparedKey: AccountID = 1

    /// Commits `xid` from a plain thread (the checkpointer's), waiting for the acknowledgement.
    static func commitBlocking(_ engine: StorageEngine, _ xid: TransactionID) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let acknowledged = Acknowledgement()
        Task.detached {
            if (try? await engine.commit(xid)) != nil { acknowledged.value.withLock { $0 = true } }
            done.signal()
        }
        done.wait()
        return acknowledged.value.withLock { $0 }
    }

    /// A transfer written, not yet committed.
    fileprivate struct PendingTransfer {
        var xid: TransactionID
        var balances: [AccountID: Int64]
    }

    /// Writes one transfer between two free rows (nil if it could not be written).
    fileprivate static func writeTransfer(
        _ engine: StorageEngine, _ s: inout CheckpointCrashModel.State
    ) -> PendingTransfer? {
        let from = AccountID.random(in: 2..<accounts, using: &s.rng)
        var to = AccountID.random(in: 2..<(accounts - 1), using: &s.rng)
        if to >= from { to += 1 }
        let amount = Int64.random(in: 1...50, using: &s.rng)
        guard let xid = try? engine.begin(), let snapshot = try? engine.snapshot(for: xid),
            let fromRow = try? engine.read(from, snapshot: snapshot),
            let toRow = try? engine.read(to, snapshot: snapshot)
        else { return nil }
        #expect(fromRow.balance == s.balances[from] && toRow.balance == s.balances[to], "reads see the model")
        let balances = [from: fromRow.balance - amount, to: toRow.balance + amount]
        do throws(StorageError) {
            for (key, balance) in balances {
                try engine.write(key, Row(balance: balance), for: xid, snapshot: snapshot)
            }
        } catch {
            Issue.record("transfer \(xid) failed: \(error)")
            return nil
        }
        return PendingTransfer(xid: xid, balances: balances)
    }

    /// Applies an acknowledged transfer to the model.
    fileprivate static func apply(_ transfer: PendingTransfer, _ s: inout CheckpointCrashModel.State) {
        for (key, balance) in transfer.balances {
            s.balances[key] = balance
            s.writer[key] = transfer.xid
        }
        s.transfers += 1
    }

    /// One transfer committed from a plain thread (the checkpointer's, never a task's).
    fileprivate static func transferBlocking(_ engine: StorageEngine, _ s: inout CheckpointCrashModel.State) {
        guard let transfer = writeTransfer(engine, &s), commitBlocking(engine, transfer.xid) else { return }
        apply(transfer, &s)
    }

    /// One transfer committed from a task.
    fileprivate static func transfer(_ engine: StorageEngine, _ model: CheckpointCrashModel) async throws {
        guard let transfer = model.state.withLock({ writeTransfer(engine, &$0) }) else { return }
        try await engine.commit(transfer.xid)
        model.state.withLock { apply(transfer, &$0) }
    }

    /// Runs `engine.checkpoint()` on the checkpointer thread; returns its error, if any.
    fileprivate static func checkpointOnThread(
        _ engine: StorageEngine, _ fileSystem: StepFileSystem
    ) async -> StorageError? {
        await withCheckedContinuation { (continuation: CheckedContinuation<StorageError?, Never>) in
            let thread = Thread {
                fileSystem.runsHook()
                do throws(StorageError) {
                    try engine.checkpoint()
                    continuation.resume(returning: nil)
                } catch { continuation.resume(returning: error) }
            }
            thread.start()
        }
    }

    /// Sets up accounts, history (with a freezing vacuum and an earlier checkpoint), a prepared
    /// and an in-progress transaction, then checkpoints with transfers committed between its
    /// steps, and crashes before its call number `crashAt` (never, if out of range). Returns the
    /// calls the checkpoint made and whether it crashed.
    @discardableResult
    static func run(
        seed: UInt64, crashAt: Int, durability: Durability, losingUnsyncedWrites: Bool
    ) async throws -> Int {
        try await withTemporaryDirectory { directory in
            let fileSystem = StepFileSystem()
            let options = StorageOptions(
                durability: durability, checkpointWALBytes: 0, pruneChainLength: 2, vacuumCommitLogEntries: 0,
                fileSystem: fileSystem)
            let comment: Comment =
                "seed \(seed), crash at call \(crashAt), \(durability), power \(losingUnsyncedWrites)"
            let engine = try StorageEngine(directory: directory, options: options)
            let model = CheckpointCrashModel(seed: seed)
            let loader = try await engine.bulkLoad(keys: 0..<accounts, row: Row(balance: initial))
            model.state.withLock { s in
                for key in 0..<accounts {
                    s.balances[key] = initial
                    s.writer[key] = loader
                }
            }
            for round in 0..<40 {
                try await transfer(engine, model)
                if round == 20 { try engine.checkpoint() }
            }
            engine.vacuum(freeze: true)
            // A prepared transaction and an in-progress one, both spanning the redo point.
            let preparer = try engine.begin()
            try engine.write(preparedKey, Row(balance: 0), for: preparer, snapshot: try engine.snapshot(for: preparer))
            try await engine.prepare(preparer)
            let runner = try engine.begin()
            try engine.write(runningKey, Row(balance: 0), for: runner, snapshot: try engine.snapshot(for: runner))
            try await transfer(engine, model)

            fileSystem.set { operation, path in
                model.state.withLock { s -> Bool in
                    if s.dead { return true }
                    defer { s.calls += 1 }
                    // The WAL's own sync runs with its file lock held: no commit (it would wait
                    // for that lock) nor crash there; both wait for the next call.
                    let walSync = operation == "dataSync" && path.contains("/wal-")
                    // Commits between the checkpoint's steps (between shards: a fuzzy image).
                    if !walSync, s.rng.chance(1) || s.calls >= crashAt - 2 { transferBlocking(engine, &s) }
                    if s.calls >= crashAt, !walSync {
                        engine.crash(losingUnsyncedWrites: losingUnsyncedWrites)
                        s.dead = true
                    }
                    return s.dead
                }
            }
            let failure = await checkpointOnThread(engine, fileSystem)
            fileSystem.set(nil)
            let (calls, dead) = model.state.withLock { ($0.calls, $0.dead) }
            if !dead {
                #expect(failure == nil, comment)
                engine.crash(losingUnsyncedWrites: losingUnsyncedWrites)
            }

            var recovered = try StorageEngine(directory: directory, options: options)
            let (balances, writer) = model.state.withLock { ($0.balances, $0.writer) }
            try check(recovered, balances, writer, preparer: preparer, runner: runner, comment)
            // Freeze, checkpoint and crash again: the same state comes back.
            let rows = recovered.committedRows()
            recovered.vacuum(freeze: true)
            try recovered.checkpoint()
            recovered.crash(losingUnsyncedWrites: true)
            recovered = try StorageEngine(directory: directory, options: options)
            #expect(recovered.committedRows() == rows, comment)
            try check(recovered, balances, writer, preparer: preparer, runner: runner, comment)
            try await recovered.commitPrepared(preparer)
            #expect(recovered.committedBalances()[preparedKey] == 0, comment)
            try recovered.close()
            return calls
        }
    }

    static func check(
        _ engine: StorageEngine, _ balances: [AccountID: Int64], _ writer: [AccountID: TransactionID],
        preparer: TransactionID, runner: TransactionID, _ comment: Comment
    ) throws {
        let rows = engine.committedRows()
        #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.row.balance) }) == balances, comment)
        for row in rows where writer[row.key] != row.xmin {
            Issue.record("row \(row.key) has xmin \(row.xmin), the model says \(writer[row.key] ?? 0); \(comment)")
        }
        #expect(engine.rowsWithDuplicateVersions == [], comment)
        #expect(engine.preparedTransactions() == [preparer], comment)
        #expect(engine.preparedLocks()[preparer] == [preparedKey], comment)
        #expect(!engine.isActive(runner) && engine.status(of: runner) != .committed, comment)
        let highest = engine.highestTransactionID
        for (key, versions) in engine.heapVersions where versions.contains(where: { $0.xmin > highest }) {
            Issue.record("row \(key) has a version above the highest id \(highest); \(comment)")
        }
        // The next transaction is new: it sees the acknowledged state, not a stranger's version.
        let reader = try engine.begin()
        let snapshot = try engine.snapshot(for: reader)
        for key in 0..<accounts {
            #expect(try engine.read(key, snapshot: snapshot)?.balance == balances[key], "row \(key); \(comment)")
        }
        try engine.abort(reader)
    }

    @Test(
        "crashes between the steps of a fuzzy checkpoint, with commits between its shards, lose no acknowledged commit",
        arguments: [
            (Durability.fsync, false), (.fsync, true), (.none, false),
        ])
    func crashAtEveryStep(durability: Durability, losingUnsyncedWrites: Bool) async throws {
        let seed: UInt64 = 0x00C0_FFEE
        let calls = try await Self.run(
            seed: seed, crashAt: .max, durability: durability, losingUnsyncedWrites: losingUnsyncedWrites)
        #expect(calls > Heap.shardCount, "the checkpoint writes every shard")
        // Every call of the tail (trailer, syncs, rename, directory sync, segment removal), the
        // header, and a seeded sample of the shards.
        var rng = SeededGenerator(seed: seed)
        var points = Set((max(0, calls - 12))..<calls)
        points.formUnion([0, 1, 2])
        for _ in 0..<6 { points.insert(Int.random(in: 3..<(calls - 12), using: &rng)) }
        for point in points.sorted() {
            try await Self.run(
                seed: seed &+ UInt64(point), crashAt: point, durability: durability,
                losingUnsyncedWrites: losingUnsyncedWrites)
        }
    }
}
