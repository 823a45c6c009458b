import Dispatch
import Synchronization

/// Two-phase commit over replicated logs (DESIGN.md, "L2"): a participant region's leader
/// executes its part of a transaction, ships the write set in a prepare entry, and once the entry
/// is committed the transaction is prepared on every replica: its versions stay uncommitted and
/// invisible, its row locks held, awaiting the coordinator's decision. The decision commits it at
/// a commit timestamp `T >= xid` (above `xid` when a participant had already issued a higher id:
/// the commit-timestamp push, which restamps its versions) or aborts it. As with
/// `commitReplicated`, durability is the replicated log's: nothing here writes a WAL record or
/// waits.
extension StorageEngine {
    /// Leader side: running transaction `xid`, whose prepare entry the replicated log has
    /// committed, becomes prepared. It keeps its row locks, its versions stay uncommitted
    /// (invisible to every snapshot), the commit log says `.prepared`; it can then only be ended
    /// by `commitReplicatedPrepared` or `abortReplicatedPrepared`. Anything not running (unknown,
    /// finished, already prepared) is refused with `notActive`.
    public func prepareReplicated(_ xid: TransactionID) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            if s.closed { throw StorageError.closed }
            guard s.active[xid]?.phase == .active else { throw notActive(xid, s) }
            s.commitLog.set(xid, .prepared)
            s.active[xid]?.phase = .prepared
            // As `prepare` does: a later `commitPrepared` must record the commit, whatever it wrote.
            s.active[xid]?.wroteWAL = true
            s.statistics.prepares += 1
        }
    }

    /// Follower side (also a replica replaying its log, or a new leader): installs the prepare
    /// entry of `xid`. Each write becomes the row's newest version with `xmin = xid`, uncommitted;
    /// `xid` is registered as a prepared transaction (snapshots list it in progress, vacuum's
    /// horizon stays at or below it) holding the write locks of those rows; the highest id seen
    /// rises to at least `xid`.
    ///
    /// A local transaction still running with a lock on one of the rows (a deposed leader's, whose
    /// commit can no longer happen) is aborted first; returns how many were. A row locked by
    /// another prepared transaction fails with `rowLockedByPrepared`, and nothing is applied.
    /// Replays are idempotent: if `xid` is already prepared here, or already decided (committed or
    /// aborted, a pushed commit included), nothing happens and 0 is returned. If `xid` is running
    /// here (the leader's own execution, applied through the log instead of `prepareReplicated`),
    /// the entry's rows overwrite its own versions and it becomes prepared.
    @discardableResult
    public func applyReplicatedPrepare(xid: TransactionID, writes: [ReplicatedWrite]) throws(StorageError) -> Int {
        for write in writes where write.row.payload.count > Row.maxPayloadBytes {
            throw StorageError.payloadTooLarge(key: write.key, bytes: write.row.payload.count)
        }
        return try state.withLock { s throws(StorageError) -> Int in
            if s.closed { throw StorageError.closed }
            return try installPrepared(xid: xid, writes: writes, &s)
        }
    }

    /// Commits prepared transaction `xid` at commit timestamp `commitTimestamp` (the coordinator's
    /// decision), at once: visible and unlocked on return.
    ///
    /// At `commitTimestamp == xid`, a plain commit. Above it, the commit-timestamp push: every
    /// version `xid` created gets `xmin = commitTimestamp`, every version it replaced gets
    /// `xmax = commitTimestamp`, the commit log records `commitTimestamp` as committed and `xid`
    /// as aborted, the highest id seen rises to at least `commitTimestamp`, and an alias
    /// `commitTimestamp -> xid` keeps snapshots taken while `xid` was in progress blind to it
    /// (see `Snapshot.committedBefore`). Refused, leaving the transaction prepared: a timestamp
    /// below `xid` (`commitTimestampBelowTransaction`), or one this engine knows as another
    /// transaction's (`commitTimestampInUse`: in its commit log, running, or an earlier push's).
    /// A transaction that is not prepared is refused with `notActive` and left as it is.
    public func commitReplicatedPrepared(_ xid: TransactionID, at commitTimestamp: TransactionID) throws(StorageError) {
        let wake = try state.withLock { s throws(StorageError) -> Bool in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .prepared else { throw notActive(xid, s) }
            guard commitTimestamp >= xid else {
                throw StorageError.commitTimestampBelowTransaction(xid, commitTimestamp: commitTimestamp)
            }
            if commitTimestamp == xid {
                s.commitLog.set(xid, .committed)
            } else {
                // The ids a timestamp collides with that the engine can still see. (A read-only
                // transaction that finished never entered the log, and a frozen creator's entry
                // is truncated: the lead's per-region id tags keep those apart.)
                guard s.commitLog.entries[commitTimestamp] == nil, s.active[commitTimestamp] == nil,
                    s.commitLog.aliases[commitTimestamp] == nil
                else { throw StorageError.commitTimestampInUse(xid, commitTimestamp: commitTimestamp) }
                // Only rows it holds locked carry its id: it wrote nothing else, and a row's
                // replaced version gets `xmax` only from the writer holding the row's lock.
                for key in txn.lockedKeys {
                    guard var chain = s.heap.removeValue(forKey: key) else { continue }
                    for index in chain.versions.indices {
                        if chain.versions[index].xmin == xid { chain.versions[index].xmin = commitTimestamp }
                        if chain.versions[index].xmax == xid { chain.versions[index].xmax = commitTimestamp }
                    }
                    s.heap[key] = chain
                }
                s.commitLog.set(commitTimestamp, .committed)
                // The original id is recorded aborted rather than forgotten: no version names it
                // any more, so its status decides no visibility, but a forgotten id reads as
                // in progress (`status(of:)` would report it still running, and a replayed prepare
                // entry for it would be installed again), while aborted marks it finished, as
                // the transaction under that id is: it goes on only as `commitTimestamp`. Vacuum
                // truncates the entry below the horizon like any finished transaction's.
                s.commitLog.set(xid, .aborted)
                s.commitLog.setAlias(commitTimestamp, original: xid)
                s.highestXid = max(s.highestXid, commitTimestamp)
                s.statistics.commitTimestampPushes += 1
            }
            finish(xid, &s)
            s.statistics.commits += 1
            return requestMaintenanceIfDue(lsn: 0, &s)
        }
        if wake { maintenanceWake.signal() }
    }

    /// Aborts prepared transaction `xid` (the coordinator decided abort): its versions are dead as
    /// any aborted transaction's, its locks released, at once. A transaction that is not prepared
    /// is refused with `notActive` and left as it is.
    public func abortReplicatedPrepared(_ xid: TransactionID) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            if s.closed { throw StorageError.closed }
            guard s.active[xid]?.phase == .prepared else { throw notActive(xid, s) }
            s.commitLog.set(xid, .aborted)
            finish(xid, &s)
            s.statistics.aborts += 1
        }
    }

    /// Every prepared transaction's write set (its newest version of each row it wrote, in the
    /// order it locked them), sorted by id: what a Raft snapshot carries so a replica restored
    /// from it holds the same prepared transactions (`restoreReplicated(rows:highestXid:prepared:)`).
    /// Rows a transaction only locked are not in it, as they are not in its prepare entry.
    public func preparedWriteSets() -> [(xid: TransactionID, writes: [ReplicatedWrite])] {
        state.withLock { s in
            s.active.filter { $0.value.phase == .prepared }.sorted { $0.key < $1.key }.map { xid, txn in
                let writes = txn.lockedKeys.compactMap { key -> ReplicatedWrite? in
                    // Its version is the row's newest: it holds the row's lock.
                    guard let last = s.heap[key]?.versions.last, last.xmin == xid else { return nil }
                    return ReplicatedWrite(key: key, row: last.row)
                }
                return (xid, writes)
            }
        }
    }

    // MARK: - Internals (called with the state lock held)

    /// Installs a prepare entry (see `applyReplicatedPrepare`); returns the running holders
    /// aborted. Checks every row before changing anything, so a refused entry leaves no trace.
    func installPrepared(xid: TransactionID, writes: [ReplicatedWrite], _ s: inout State) throws(StorageError) -> Int {
        if let txn = s.active[xid] {
            switch txn.phase {
            case .prepared: return 0
            case .committing: throw notActive(xid, s)
            case .active: break
            }
        } else {
            let status = s.commitLog.status(of: xid)
            if status == .committed || status == .aborted { return 0 }
        }
        for write in writes {
            if let holder = s.rowLocks[write.key], holder != xid, let phase = s.active[holder]?.phase, phase != .active
            {
                throw StorageError.rowLockedByPrepared(key: write.key, holder: holder)
            }
        }
        let aborted = abortRunningHolders(of: writes, except: xid, &s)
        var txn = s.active[xid] ?? ActiveTransaction(snapshotXmin: xid)
        for write in writes {
            StorageEngine.applyWrite(xid: xid, key: write.key, row: write.row, lsn: 0, state: &s)
            if s.rowLocks[write.key] != xid {
                s.rowLocks[write.key] = xid
                txn.lockedKeys.append(write.key)
            }
        }
        txn.phase = .prepared
        // As `prepare` does: a later `commitPrepared` must record the commit.
        txn.wroteWAL = true
        s.active[xid] = txn
        s.commitLog.set(xid, .prepared)
        s.highestXid = max(s.highestXid, xid)
        s.statistics.prepares += 1
        return aborted
    }
}
