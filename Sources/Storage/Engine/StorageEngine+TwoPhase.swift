import Synchronization

/// Two-phase commit at L0, as PostgreSQL's PREPARE TRANSACTION / COMMIT PREPARED: a prepared
/// transaction is durable, keeps its row locks, survives a crash and waits for a decision.
extension StorageEngine {
    /// Prepares `xid`: appends a prepare record and waits until it is durable. Afterwards the
    /// transaction can only be finished by `commit` (COMMIT PREPARED) or `abortPrepared`.
    public func prepare(_ xid: TransactionID) async throws(StorageError) {
        let lsn = try state.withLock { s throws(StorageError) -> LSN in
            if s.closed { throw StorageError.closed }
            guard let txn = s.active[xid], txn.phase == .active else { throw notActive(xid, s) }
            // Rows locked without a write leave no write record: log their locks, or a crash
            // would release them while the transaction stays prepared. (Its own version is the
            // newest of a row it wrote, since it holds the row's lock.)
            for key in txn.lockedKeys where s.heap[key]?.versions.last?.xmin != xid {
                _ = try wal.append(.lock(xid: xid, key: key))
            }
            let lsn = try wal.append(.prepare(xid: xid))
            s.commitLog.set(xid, .prepared)
            s.active[xid]?.phase = .prepared
            s.active[xid]?.wroteWAL = true
            s.statistics.prepares += 1
            return lsn
        }
        do { try await wal.waitDurable(lsn) } catch { throw (error as? StorageError) ?? .closed }
    }

    /// Commits a prepared transaction (COMMIT PREPARED), also one restored by recovery. A
    /// transaction that is not prepared (running, finished, unknown) is refused with `notActive`
    /// and left as it is: only its owner's `commit` may end a running one.
    @discardableResult
    public func commitPrepared(_ xid: TransactionID) async throws(StorageError) -> CommitReceipt {
        try await commit(xid, preparedOnly: true)
    }

    /// Aborts a prepared transaction (ROLLBACK PREPARED), durably: a coordinator that decided
    /// abort must not find the transaction prepared again after a crash.
    public func abortPrepared(_ xid: TransactionID) async throws(StorageError) {
        let lsn = try state.withLock { s throws(StorageError) -> LSN in
            if s.closed { throw StorageError.closed }
            guard s.active[xid]?.phase == .prepared else { throw notActive(xid, s) }
            let lsn = try wal.append(.abort(xid: xid))
            s.commitLog.set(xid, .aborted)
            finish(xid, &s)
            s.statistics.aborts += 1
            return lsn
        }
        do { try await wal.waitDurable(lsn) } catch { throw (error as? StorageError) ?? .closed }
    }

    /// The transactions prepared here and awaiting a decision (after recovery: the in-doubt ones).
    public func preparedTransactions() -> [TransactionID] {
        state.withLock { s in s.active.filter { $0.value.phase == .prepared }.keys.sorted() }
    }

    /// The rows each prepared transaction holds locked (L1 registers them in its lock manager
    /// after recovery, so waiters queue behind the in-doubt transaction).
    public func preparedLocks() -> [TransactionID: [AccountID]] {
        state.withLock { s in
            var locks: [TransactionID: [AccountID]] = [:]
            for (xid, txn) in s.active where txn.phase == .prepared { locks[xid] = txn.lockedKeys }
            return locks
        }
    }
}
