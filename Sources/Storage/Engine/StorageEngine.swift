import Dispatch
import Foundation
import Synchronization

/// L0 storage: an MVCC heap in the style of PostgreSQL's, with a commit log, snapshots, row write
/// locks, a write-ahead log with group commit, checkpoints, crash recovery and vacuum.
///
/// The API is deliberately narrow (begin / snapshot / read / lock / write / commit / abort /
/// prepare); isolation levels, waiting for locks and retries are L1's business. All state is
/// guarded by one mutex; no lock is held across an `await` (a committer waits for the WAL
/// outside it).
public final class StorageEngine: Sendable {
    /// The directory holding this engine's WAL segments and checkpoint.
    public let directory: String
    /// The settings it was opened with.
    public let options: StorageOptions
    /// What recovery did when the engine opened.
    public let recovery: RecoveryReport

    struct ActiveTransaction: Sendable {
        enum Phase: Sendable { case active, committing, prepared }
        var phase: Phase = .active
        /// Rows this transaction holds write locks on (written or locked for update).
        var lockedKeys: [AccountID] = []
        /// The oldest `xmin` of the snapshots it took (the vacuum horizon must not pass it).
        var snapshotXmin: TransactionID
        /// Whether it wrote WAL records (a read-only transaction commits without any).
        var wroteWAL = false
    }

    struct State: Sendable {
        var heap = Heap()
        /// Versions in the heap, live and dead (kept as they come and go: reading it is O(1)).
        var versionCount = 0
        var commitLog = CommitLog()
        var active: [TransactionID: ActiveTransaction] = [:]
        var rowLocks: [AccountID: TransactionID] = [:]
        var highestXid: TransactionID = 0
        var statistics = StorageStatistics()
        var closed = false
        /// The redo point of the last checkpoint started (the next is due this many WAL bytes on).
        var lastRedoLSN: LSN = 0
        /// Work asked of the maintenance thread.
        var checkpointRequested = false
        /// The maintenance thread is writing a checkpoint (paced checkpoints wait for its size).
        var checkpointRunning = false
        var vacuumRequested = false
        /// Commit-log entries the last vacuum could not remove (a long transaction holds the
        /// horizon back): the next vacuum is due `vacuumCommitLogEntries` past them, so a held
        /// horizon does not make vacuum run back to back.
        var commitLogAfterVacuum = 0
        /// Callers of `waitForMaintenance`, released once the requested work is done.
        var maintenanceFences: [BlockingWait] = []
    }

    let state: Mutex<State>
    let wal: WriteAheadLog
    /// Serialises checkpoints (background and explicit); held across a checkpoint's I/O, never
    /// by a committer.
    let checkpointSerial = Mutex(())
    /// Serialises vacuum passes.
    let vacuumSerial = Mutex(())
    let maintenanceWake = DispatchSemaphore(value: 0)
    let maintenanceExited = DispatchSemaphore(value: 0)

    static let checkpointFile = "checkpoint"

    /// Opens the engine on `directory` (created if missing) and recovers: loads the checkpoint,
    /// replays the WAL after it (truncating a torn tail), aborts transactions that were in
    /// progress at the crash and restores prepared ones.
    public init(directory: String, options: StorageOptions = StorageOptions()) throws(StorageError) {
        self.directory = directory
        self.options = options
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch { throw FileIO.ioError(directory, error) }
        var (recovered, report, scan) = try StorageEngine.recover(
            directory: directory, fileSystem: options.fileSystem)
        recovered.lastRedoLSN = report.redoLSN
        recovered.versionCount = recovered.heap.versionCount
        wal = try WriteAheadLog(
            directory: directory, segmentStart: scan.segmentStart, endLSN: scan.endLSN, durability: options.durability,
            fileSystem: options.fileSystem, clock: options.clock, disabled: !options.writeAheadLog)
        state = Mutex(recovered)
        recovery = report
        let thread = Thread { [self] in maintenanceLoop() }
        thread.name = "layerbench-storage-maintenance"
        thread.start()
    }

    // MARK: - Transactions

    /// Starts a transaction. With `xid`, the caller (L1, on behalf of L2) imposes the id: it must
    /// be above every id this engine has seen, because snapshots order transactions by id.
    /// Without it, the engine assigns the next id.
    public func begin(xid: TransactionID? = nil) throws(StorageError) -> TransactionID {
        try state.withLock { s throws(StorageError) -> TransactionID in
            if s.closed { throw StorageError.closed }
            let id = xid ?? options.transactionIDs?(s.highestXid) ?? (s.highestXid + 1)
            guard id > s.highestXid else {
                throw StorageError.transactionIDNotIncreasing(id, highest: s.highestXid)
            }
            s.highestXid = id
            s.active[id] = ActiveTransaction(snapshotXmin: id)
            return id
        }
    }

    /// Takes a snapshot for `xid`: the transactions committed now are visible to it, those
    /// running now (or later) are not. Read committed takes one per statement, snapshot
    /// isolation one per transaction.
    public func snapshot(for xid: TransactionID) throws(StorageError) -> Snapshot {
        try state.withLock { s throws(StorageError) -> Snapshot in
            if s.closed { throw StorageError.closed }
            guard s.active[xid]?.phase == .active else { throw notActive(xid, s) }
            var xmin = s.highestXid + 1
            var running = Set<TransactionID>(minimumCapacity: s.active.count)
            for id in s.active.keys {
                running.insert(id)
                xmin = min(xmin, id)
            }
            let registered = s.active[xid]?.snapshotXmin ?? xmin
            s.active[xid]?.snapshotXmin = min(registered, xmin)
            return Snapshot(xmin: xmin, xmax: s.highestXid + 1, inProgress: running, owner: xid)
        }
    }

    /// The version of `key` visible to `snapshot`, or nil if none is.
    public func read(_ key: AccountID, snapshot: Snapshot) throws(StorageError) -> Row? {
        try state.withLock { s throws(StorageError) -> Row? in
            if s.closed { throw StorageError.closed }
            guard let chain = s.heap[key]?.versions else { return nil }
            for version in chain.reversed() where snapshot.isVisible(version, in: s.commitLog) {
                return version.row
            }
            return nil
        }
    }

    /// Takes the write lock on `key` without writing (SELECT ... FOR UPDATE). With a snapshot,
    /// fails with `concurrentUpdate` if the row's live version is newer than the snapshot.
    public func lock(_ key: AccountID, for xid: TransactionID, snapshot: Snapshot?) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            _ = try acquireRowLock(key, xid, snapshot, &s)
        }
    }

    /// Writes a new version of `key` (an insert if the row does not exist). Takes the row's write
    /// lock (fails with `rowLocked` naming the holder if another transaction has it); with a
    /// snapshot (snapshot isolation), applies first-updater-wins.
    public func write(_ key: AccountID, _ row: Row, for xid: TransactionID, snapshot: Snapshot?) throws(StorageError) {
        guard row.payload.count <= Row.maxPayloadBytes else {
            throw StorageError.payloadTooLarge(key: key, bytes: row.payload.count)
        }
        try state.withLock { s throws(StorageError) in
            _ = try acquireRowLock(key, xid, snapshot, &s)
            let start = options.clock.nowNanos()
            let lsn = try wal.append(.write(xid: xid, key: key, row: row))
            s.statistics.walAppendNanos += options.clock.nanosSince(start)
            s.active[xid]?.wroteWAL = true
            StorageEngine.applyWrite(xid: xid, key: key, row: row, lsn: lsn, state: &s)
            if let count = s.heap[key]?.versions.count, count > options.pruneChainLength {
                let horizon = StorageEngine.horizon(s)
                s.statistics.versionsPruned += UInt64(StorageEngine.prune(key, horizon: horizon, state: &s))
            }
        }
    }

    /// Inserts `key`, failing with `duplicateKey` if a live version exists (23505 at L1).
    public func insert(_ key: AccountID, _ row: Row, for xid: TransactionID, snapshot: Snapshot) throws(StorageError) {
        let exists = try state.withLock { s throws(StorageError) -> Bool in
            guard s.active[xid]?.phase == .active else { throw notActive(xid, s) }
            if let holder = s.rowLocks[key], holder != xid { throw StorageError.rowLocked(key: key, holder: holder) }
            return StorageEngine.liveIndex(s.heap[key]?.versions ?? [], owner: xid, s.commitLog) != nil
        }
        if exists { throw StorageError.duplicateKey(key: key) }
        try write(key, row, for: xid, snapshot: snapshot)
    }

    /// Commits: appends the commit record, waits (with every concurrent committer) until it is
    /// durable, then makes the transaction visible and releases its locks. Others do not see the
    /// commit before it is durable.
    @discardableResult
    public func commit(_ xid: TransactionID) async throws(StorageError) -> CommitReceipt {
        try await commit(xid, preparedOnly: false)
    }

    /// Commits `xid`, running or prepared; with `preparedOnly` (COMMIT PREPARED), a prepared one
    /// only (a running one is refused with `notActive` and left running).
    func commit(_ xid: TransactionID, preparedOnly: Bool) async throws(StorageError) -> CommitReceipt {
        let lsn = try state.withLock { s throws(StorageError) -> LSN? in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .prepared || (txn.phase == .active && !preparedOnly) else {
                throw notActive(xid, s)
            }
            guard txn.wroteWAL else {
                finish(xid, &s)
                s.statistics.commits += 1
                return nil
            }
            let start = options.clock.nowNanos()
            let lsn = try wal.append(.commit(xid: xid))
            s.statistics.walAppendNanos += options.clock.nanosSince(start)
            // The commit log says committed now so a checkpoint taken before the flush keeps it;
            // the transaction stays in `active`, so no snapshot sees it until it is durable.
            s.commitLog.set(xid, .committed)
            s.active[xid]?.phase = .committing
            return lsn
        }
        guard let lsn else { return CommitReceipt(lsn: nil, waitNanos: 0) }
        let waitStart = options.clock.nowNanos()
        // A poisoned WAL fails this wait with its I/O error: the commit is not acknowledged (it
        // may or may not have reached the disk; recovery decides), and the engine must reopen.
        do { try await wal.waitDurable(lsn) } catch {
            throw (error as? StorageError) ?? .closed
        }
        let waited = options.clock.nanosSince(waitStart)
        let maintenanceDue = state.withLock { s -> Bool in
            finish(xid, &s)
            s.statistics.commits += 1
            s.statistics.commitWaitNanos += waited
            return requestMaintenanceIfDue(lsn: lsn, &s)
        }
        // Checkpoints and vacuum run on the maintenance thread, never on a committer's: the
        // commit is durable and visible whatever they do.
        if maintenanceDue { maintenanceWake.signal() }
        return CommitReceipt(lsn: lsn, waitNanos: waited)
    }

    /// Aborts a running transaction: its versions become dead, its locks are released. The abort
    /// record is not waited for (if it is lost, recovery aborts the transaction anyway). A
    /// prepared transaction is aborted with `abortPrepared`.
    public func abort(_ xid: TransactionID) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .active else { throw notActive(xid, s) }
            if txn.wroteWAL {
                _ = try wal.append(.abort(xid: xid))
                s.commitLog.set(xid, .aborted)
            }
            finish(xid, &s)
            s.statistics.aborts += 1
        }
    }

    /// The commit log's status of `xid` (read-only transactions never enter the log).
    public func status(of xid: TransactionID) -> TransactionStatus {
        state.withLock { $0.commitLog.status(of: xid) }
    }

    /// Whether `xid` is running, committing or prepared here.
    public func isActive(_ xid: TransactionID) -> Bool {
        state.withLock { $0.active[xid] != nil }
    }

    /// Whether the engine was closed or crashed.
    public var isClosed: Bool {
        state.withLock { $0.closed }
    }

    /// The highest transaction id this engine has seen.
    public var highestTransactionID: TransactionID {
        state.withLock { $0.highestXid }
    }

    /// Counters for the harness.
    public func statistics() -> StorageStatistics {
        var statistics = state.withLock { s in
            var statistics = s.statistics
            assert(s.versionCount == s.heap.versionCount, "the heap's version count drifted")
            statistics.versionsInHeap = s.versionCount
            statistics.commitLogEntries = s.commitLog.count
            return statistics
        }
        statistics.wal = wal.statistics
        return statistics
    }

    /// The I/O failure that poisoned the engine, if one did: every later commit fails with it
    /// until the directory is reopened (and recovered).
    public var failure: StorageError? {
        guard let failure = wal.failure, failure != .closed else { return nil }
        return failure
    }

    /// Flushes the WAL and closes the engine; later calls fail with `closed`. Throws the I/O
    /// failure that poisoned the engine, if one did.
    public func close() throws(StorageError) {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        if first { stopMaintenance() }
        try wal.close()
    }

    /// Kills the engine as a crash would: the WAL buffer is lost and waiting committers fail
    /// with `closed`. With `losingUnsyncedWrites`, WAL bytes written but not yet fsynced are cut
    /// off too (a power failure rather than a process crash). Reopen the directory to recover.
    /// The fault injector's hook, and the crash tests'.
    public func crash(losingUnsyncedWrites: Bool = false) {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        wal.crash(losingUnsyncedWrites: losingUnsyncedWrites)
        // The maintenance thread is gone before the directory may be reopened: a checkpoint
        // still running would race with the new engine's files.
        if first { stopMaintenance() }
    }

    // MARK: - Internals (called with the state lock held)

    func notActive(_ xid: TransactionID, _ s: State) -> StorageError {
        if let txn = s.active[xid] { return .notActive(xid, status: "\(txn.phase)") }
        return .notActive(xid, status: "\(s.commitLog.status(of: xid))")
    }

    /// Takes the write lock of `key` for `xid`, applying first-updater-wins against `snapshot`.
    private func acquireRowLock(
        _ key: AccountID, _ xid: TransactionID, _ snapshot: Snapshot?, _ s: inout State
    ) throws(StorageError) {
        if s.closed { throw StorageError.closed }
        guard s.active[xid]?.phase == .active else { throw notActive(xid, s) }
        if let holder = s.rowLocks[key] {
            if holder == xid { return }
            s.statistics.rowLockConflicts += 1
            throw StorageError.rowLocked(key: key, holder: holder)
        }
        if let snapshot, let chain = s.heap[key]?.versions,
            let live = StorageEngine.liveIndex(chain, owner: xid, s.commitLog)
        {
            let creator = chain[live].xmin
            if creator != xid,
                !snapshot.committedBefore(
                    creator, status: s.commitLog.creatorStatus(chain[live]), aliases: s.commitLog.aliases)
            {
                s.statistics.concurrentUpdateConflicts += 1
                throw StorageError.concurrentUpdate(key: key, by: creator)
            }
        }
        s.rowLocks[key] = xid
        s.active[xid]?.lockedKeys.append(key)
    }

    /// Removes `xid` from the running set and releases its row locks.
    func finish(_ xid: TransactionID, _ s: inout State) {
        guard let txn = s.active.removeValue(forKey: xid) else { return }
        for key in txn.lockedKeys where s.rowLocks[key] == xid {
            s.rowLocks[key] = nil
        }
    }

    /// The newest version of a chain whose creator committed (or is `owner`): the version a new
    /// write replaces.
    static func liveIndex(_ chain: [TupleVersion], owner: TransactionID, _ commitLog: CommitLog) -> Int? {
        var index = chain.count - 1
        while index >= 0 {
            if chain[index].xmin == owner || commitLog.creatorCommitted(chain[index]) { return index }
            index -= 1
        }
        return nil
    }

    /// Applies a write to the heap: a transaction's second write of a row overwrites its own
    /// version in place; otherwise the live version gets `xmax = xid` and a new version with
    /// `xmin = xid` is appended to the chain. The same function replays WAL write records, so
    /// replay rebuilds exactly the chains the engine had. `lsn` (the record's end) becomes the
    /// chain's LSN; replay skips a record at or below it (already in a fuzzy checkpoint's image).
    static func applyWrite(xid: TransactionID, key: AccountID, row: Row, lsn: LSN, state s: inout State) {
        var chain = s.heap.removeValue(forKey: key) ?? VersionChain(versions: [], lsn: 0)
        chain.lsn = max(chain.lsn, lsn)
        if let live = liveIndex(chain.versions, owner: xid, s.commitLog) {
            if chain.versions[live].xmin == xid {
                chain.versions[live].row = row
                s.heap[key] = chain
                return
            }
            chain.versions[live].xmax = xid
        }
        chain.versions.append(TupleVersion(xmin: xid, xmax: 0, row: row))
        s.statistics.versionsWritten += 1
        s.versionCount += 1
        s.heap[key] = chain
    }

    /// Every transaction below the horizon has finished, and no running transaction's snapshot
    /// can see a version replaced by a transaction that committed below it.
    static func horizon(_ s: State) -> TransactionID {
        var horizon = s.highestXid + 1
        for (xid, txn) in s.active {
            horizon = min(horizon, xid, txn.snapshotXmin)
        }
        return horizon
    }

    /// Whether no snapshot, now or later, can see `version`.
    static func isDead(_ version: TupleVersion, horizon: TransactionID, _ commitLog: CommitLog) -> Bool {
        let creator = commitLog.creatorStatus(version)
        if creator == .aborted { return true }
        guard creator == .committed, version.xmax != 0, version.xmax < horizon else { return false }
        return commitLog.isCommitted(version.xmax)
    }

    /// Removes the dead versions of one chain; returns how many.
    static func prune(_ key: AccountID, horizon: TransactionID, state s: inout State) -> Int {
        guard var chain = s.heap.removeValue(forKey: key) else { return 0 }
        let before = chain.versions.count
        chain.versions.removeAll { isDead($0, horizon: horizon, s.commitLog) }
        let removed = before - chain.versions.count
        s.versionCount -= removed
        if !chain.versions.isEmpty { s.heap[key] = chain }
        return removed
    }
}

/// The outcome of a durable commit.
public struct CommitReceipt: Sendable, Hashable {
    /// The end LSN of the commit record (nil for a read-only transaction, which writes none).
    public var lsn: LSN?
    /// Nanoseconds the committer waited for the flush that made it durable.
    public var waitNanos: UInt64
}
