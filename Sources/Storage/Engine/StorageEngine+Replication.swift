import Dispatch
import Synchronization

/// A row written by a transaction, as a replicated log entry carries it: the whole new value, so
/// applying it is a plain install (no read, no arithmetic) and replaying it twice yields the same row.
public struct ReplicatedWrite: Sendable, Hashable {
    /// The row's key.
    public var key: AccountID
    /// Its new value.
    public var row: Row

    /// Creates a write.
    public init(key: AccountID, row: Row) {
        self.key = key
        self.row = row
    }
}

/// Replication at L0 (DESIGN.md, "Replication"): a region's leader executes a transaction on its
/// own storage (locks, MVCC, SSI), its runtime ships the transaction's write set through the Raft
/// log, and every replica installs committed write sets in log order with the leader's transaction
/// id as `xmin`, so the cross-layer identity holds on every replica. Such an engine is opened with
/// `writeAheadLog: false`: the Raft log is its WAL.
extension StorageEngine {
    /// The rows running transaction `xid` wrote (its newest version of each), in the order it
    /// first locked them. Empty for a read-only transaction.
    public func writeSet(of xid: TransactionID) throws(StorageError) -> [ReplicatedWrite] {
        try state.withLock { s throws(StorageError) -> [ReplicatedWrite] in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .active else { throw notActive(xid, s) }
            var writes: [ReplicatedWrite] = []
            writes.reserveCapacity(txn.lockedKeys.count)
            for key in txn.lockedKeys {
                guard let last = s.heap[key]?.versions.last, last.xmin == xid else { continue }
                writes.append(ReplicatedWrite(key: key, row: last.row))
            }
            return writes
        }
    }

    /// Commits running transaction `xid` at once, without a WAL record or a wait: its durability
    /// is the replicated log's, already established by the caller (the entry carrying its write
    /// set is committed, or persisted by the leader under async replication). Visible and
    /// unlocked on return.
    public func commitReplicated(_ xid: TransactionID) throws(StorageError) {
        let wake = try state.withLock { s throws(StorageError) -> Bool in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .active else { throw notActive(xid, s) }
            if txn.wroteWAL { s.commitLog.set(xid, .committed) }
            finish(xid, &s)
            s.statistics.commits += 1
            return requestMaintenanceIfDue(lsn: 0, &s)
        }
        if wake { maintenanceWake.signal() }
    }

    /// Installs a transaction committed elsewhere (a follower applying its leader's entry, or a
    /// replica replaying its log at restart): each write becomes the row's newest version with
    /// `xmin = xid`, committed. A local transaction still running with a lock on one of the rows
    /// (a deposed leader's, whose commit can no longer happen) is aborted first. Returns the number
    /// of such transactions aborted.
    @discardableResult
    public func applyReplicated(xid: TransactionID, writes: [ReplicatedWrite]) throws(StorageError) -> Int {
        for write in writes where write.row.payload.count > Row.maxPayloadBytes {
            throw StorageError.payloadTooLarge(key: write.key, bytes: write.row.payload.count)
        }
        let (aborted, wake) = try state.withLock { s throws(StorageError) -> (Int, Bool) in
            if s.closed { throw StorageError.closed }
            let aborted = abortRunningHolders(of: writes, except: xid, &s)
            for write in writes {
                StorageEngine.applyWrite(xid: xid, key: write.key, row: write.row, lsn: 0, state: &s)
            }
            s.commitLog.set(xid, .committed)
            s.highestXid = max(s.highestXid, xid)
            s.statistics.commits += 1
            return (aborted, requestMaintenanceIfDue(lsn: 0, &s))
        }
        if wake { maintenanceWake.signal() }
        return aborted
    }

    /// Aborts every running (not prepared) transaction other than `xid` that holds the lock of a
    /// row in `writes`: a deposed leader's, whose commit can no longer happen once the log installs
    /// another transaction's write of the row. Returns how many.
    func abortRunningHolders(of writes: [ReplicatedWrite], except xid: TransactionID, _ s: inout State) -> Int {
        var aborted = 0
        for write in writes {
            if let holder = s.rowLocks[write.key], holder != xid, s.active[holder]?.phase == .active {
                s.commitLog.set(holder, .aborted)
                finish(holder, &s)
                s.statistics.aborts += 1
                aborted += 1
            }
        }
        return aborted
    }

    /// Installs loaded rows `keys`, all with value `row`, committed with `xmin = xid` (a replicated
    /// bulk load). None of the keys may hold a live version (`duplicateKey`).
    public func applyReplicatedLoad(xid: TransactionID, keys: Range<AccountID>, row: Row) throws(StorageError) {
        guard row.payload.count <= Row.maxPayloadBytes else {
            throw StorageError.payloadTooLarge(key: keys.lowerBound, bytes: row.payload.count)
        }
        try state.withLock { s throws(StorageError) in
            if s.closed { throw StorageError.closed }
            s.heap.reserveCapacity(adding: keys.count)
            for key in keys {
                if let chain = s.heap[key], StorageEngine.liveIndex(chain.versions, owner: xid, s.commitLog) != nil {
                    throw StorageError.duplicateKey(key: key)
                }
            }
            s.commitLog.set(xid, .committed)
            s.highestXid = max(s.highestXid, xid)
            var fresh = 0
            for key in keys {
                guard s.heap[key] == nil else {
                    StorageEngine.applyWrite(xid: xid, key: key, row: row, lsn: 0, state: &s)
                    continue
                }
                // Committed by the log already: frozen at once, as a bulk load's rows (COPY FREEZE).
                s.heap[key] = VersionChain(versions: [TupleVersion(xmin: xid, xmax: 0, row: row, frozen: true)], lsn: 0)
                fresh += 1
            }
            s.statistics.versionsWritten += UInt64(fresh)
            s.versionCount += fresh
        }
    }

    /// The committed rows as a snapshot of the replicated state sees them: the newest version of
    /// each row whose creator committed and is not in `excluding` (transactions committed here ahead
    /// of the replicated log, under async replication, that a snapshot at the applied index must
    /// not contain). Sorted by key.
    public func committedRows(excluding: Set<TransactionID>) -> [CommittedRow] {
        guard !excluding.isEmpty else { return committedRows() }
        return state.withLock { s in
            s.heap.rows.compactMap { key, chain -> CommittedRow? in
                for version in chain.versions.reversed()
                where s.commitLog.creatorCommitted(version) && !excluding.contains(version.xmin) {
                    return CommittedRow(key: key, row: version.row, xmin: version.xmin)
                }
                return nil
            }.sorted { $0.key < $1.key }
        }
    }

    /// Replaces the whole state with `rows` (a Raft snapshot's): every row one frozen version that
    /// keeps its `xmin`, nothing running, the commit log empty. Transaction ids issued later stay
    /// above `highestXid` and above every restored `xmin`. Transactions still running here (a
    /// deposed leader's) are aborted: their commits can no longer happen. Returns how many.
    ///
    /// `prepared` (the snapshot's `preparedWriteSets()`) is installed after the rows exactly as
    /// `applyReplicatedPrepare` would: each a prepared transaction holding its rows' locks. One
    /// prepared here already and in `prepared` is carried over, not counted as aborted. Two sets
    /// naming one row fail with `rowLockedByPrepared` before anything changes.
    @discardableResult
    public func restoreReplicated(
        rows: [CommittedRow], highestXid: TransactionID,
        prepared: [(xid: TransactionID, writes: [ReplicatedWrite])] = []
    ) throws(StorageError) -> Int {
        var lockHolder: [AccountID: TransactionID] = [:]
        for entry in prepared {
            for write in entry.writes {
                if write.row.payload.count > Row.maxPayloadBytes {
                    throw StorageError.payloadTooLarge(key: write.key, bytes: write.row.payload.count)
                }
                if let holder = lockHolder[write.key], holder != entry.xid {
                    throw StorageError.rowLockedByPrepared(key: write.key, holder: holder)
                }
                lockHolder[write.key] = entry.xid
            }
        }
        let carried = Set(prepared.map(\.xid))
        return try state.withLock { s throws(StorageError) -> Int in
            if s.closed { throw StorageError.closed }
            var aborted = 0
            for (xid, txn) in Array(s.active) {
                s.commitLog.set(xid, .aborted)
                finish(xid, &s)
                if txn.phase == .prepared && carried.contains(xid) { continue }
                s.statistics.aborts += 1
                aborted += 1
            }
            var heap = Heap()
            heap.reserveCapacity(adding: rows.count)
            var highest = max(highestXid, s.highestXid)
            for entry in rows {
                heap[entry.key] = VersionChain(
                    versions: [TupleVersion(xmin: entry.xmin, xmax: 0, row: entry.row, frozen: true)], lsn: 0)
                highest = max(highest, entry.xmin)
            }
            s.heap = heap
            s.versionCount = rows.count
            s.commitLog = CommitLog()
            s.commitLogAfterVacuum = 0
            s.rowLocks = [:]
            s.highestXid = highest
            for entry in prepared {
                // Cannot fail: nothing runs, the commit log is empty, no two sets share a row.
                _ = try installPrepared(xid: entry.xid, writes: entry.writes, &s)
            }
            return aborted
        }
    }

    /// The newest committed version of `key`, nil if none (a replicated load checks whether a chunk
    /// it proposed committed under a leader change).
    public func committedRow(_ key: AccountID) -> CommittedRow? {
        state.withLock { s in
            guard let chain = s.heap[key]?.versions else { return nil }
            for version in chain.reversed() where s.commitLog.creatorCommitted(version) {
                return CommittedRow(key: key, row: version.row, xmin: version.xmin)
            }
            return nil
        }
    }
}
