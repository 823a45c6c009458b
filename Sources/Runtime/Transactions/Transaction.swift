import Storage
import Synchronization

/// A running transaction: reads and writes against L0 under its isolation level, taking row
/// locks through the lock manager. One task uses a transaction at a time; its mutable state
/// sits behind an (uncontended) mutex so the handle is `Sendable`.
public final class Transaction: Sendable {
    /// The transaction id: L2's timestamp, L1's id and L0's `xmin` (the cross-layer identity).
    public let xid: TransactionID
    /// Its isolation level.
    public let isolation: IsolationLevel
    let manager: TransactionManager
    /// The snapshot of repeatable read and serializable (read committed takes one per read).
    let snapshot: Snapshot

    /// Where a transaction is in its life. The phase only moves forward (`advance` checks it):
    /// `active` to `committing` to `committed` or `aborted`; `active` to `preparing` to
    /// `prepared` or `aborted`; `active` to `aborted`. Only an `active` transaction runs
    /// statements; the rest of its life belongs to the one call that moved it on.
    enum Phase: Int, Comparable, Sendable {
        case active
        case preparing
        case prepared
        case committing
        case committed
        case aborted

        static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }

        /// The moves a transaction can make; each goes forward in the order above.
        func canMove(to next: Phase) -> Bool {
            switch (self, next) {
            case (.active, .preparing), (.active, .committing), (.active, .aborted), (.preparing, .prepared),
                (.preparing, .aborted), (.committing, .committed), (.committing, .aborted):
                true
            default: false
            }
        }
    }

    struct State {
        var failed: TransactionError?
        var trace = Trace()
        var wrote = false
        var phase = Phase.active

        /// Moves the phase on; a move backwards (or sideways) is a bug in the runtime.
        mutating func advance(to next: Phase) {
            precondition(next > phase && phase.canMove(to: next), "transaction phase \(phase) cannot move to \(next)")
            phase = next
        }
    }

    let state = Mutex(State())

    init(xid: TransactionID, isolation: IsolationLevel, manager: TransactionManager, snapshot: Snapshot) {
        self.xid = xid
        self.isolation = isolation
        self.manager = manager
        self.snapshot = snapshot
    }

    /// The spans recorded so far (lock waits and storage access; the manager adds the rest).
    public var trace: Trace { state.withLock { $0.trace } }

    /// Reads `key` as the isolation level sees it: the transaction's snapshot, or a fresh one
    /// per read at read committed. Nil if the row does not exist (for this snapshot).
    public func read(_ key: AccountID) async throws(TransactionError) -> Row? {
        try await read(key, poison: true)
    }

    /// Reads; with `poison` false an error does not fail the transaction (a batch member's).
    func read(_ key: AccountID, poison: Bool) async throws(TransactionError) -> Row? {
        try checkUsable()
        let start = manager.clock.nowNanos()
        do {
            let view = isolation == .readCommitted ? try manager.storage.snapshot(for: xid) : snapshot
            let row = try manager.storage.read(key, snapshot: view)
            if isolation == .serializable { try manager.ssi.onRead(xid, key) }
            addSpan(.storageAccess, since: start)
            return row
        } catch let error as StorageError {
            throw failIf(poison, TransactionError(error, xid: xid))
        } catch let error as TransactionError {
            throw failIf(poison, error)
        } catch {
            throw failIf(poison, TransactionError(.internalError, "\(error)", xid: xid, key: key))
        }
    }

    /// Locks `key` for update, then reads it (SELECT ... FOR UPDATE). At read committed the read
    /// sees the newest committed version (the previous holder has finished); at repeatable read
    /// and serializable, a row changed after the snapshot fails with 40001.
    public func readForUpdate(_ key: AccountID, wait: LockWait? = nil) async throws(TransactionError) -> Row? {
        try await lockRow(key, wait: wait)
        return try await read(key)
    }

    /// Writes `key` (an insert if it does not exist), locking it first.
    public func write(_ key: AccountID, _ row: Row, wait: LockWait? = nil) async throws(TransactionError) {
        try await lockAndModify(key, wait: wait) { storage throws(StorageError) in
            try storage.write(key, row, for: xid, snapshot: isolation == .readCommitted ? nil : snapshot)
        }
    }

    /// Inserts `key`; fails with 23505 if it exists.
    public func insert(_ key: AccountID, _ row: Row, wait: LockWait? = nil) async throws(TransactionError) {
        try await lockAndModify(key, wait: wait) { storage throws(StorageError) in
            let view = isolation == .readCommitted ? try storage.snapshot(for: xid) : snapshot
            try storage.insert(key, row, for: xid, snapshot: view)
        }
    }

    /// Locks `key`, runs the storage modification, registers the write with SSI, and times it.
    private func lockAndModify(
        _ key: AccountID, wait: LockWait?, _ modify: (StorageEngine) throws(StorageError) -> Void
    ) async throws(TransactionError) {
        try await lockRow(key, wait: wait)
        let start = manager.clock.nowNanos()
        do {
            try modify(manager.storage)
            if isolation == .serializable { try manager.ssi.onWrite(xid, key) }
        } catch let error as StorageError {
            throw fail(TransactionError(error, xid: xid))
        } catch let error as TransactionError {
            throw fail(error)
        } catch {
            throw fail(TransactionError(.internalError, "\(error)", xid: xid, key: key))
        }
        state.withLock { $0.wrote = true }
        addSpan(.storageAccess, since: start)
    }

    // MARK: - Internals

    func lockRow(_ key: AccountID, wait: LockWait?, poison: Bool = true) async throws(TransactionError) {
        try checkUsable()
        let start = manager.clock.nowNanos()
        do {
            try await manager.locks.acquire(key, for: xid, wait: wait ?? .timeout(manager.options.lockTimeout))
            addSpan(.lockWait, since: start)
            let lockStart = manager.clock.nowNanos()
            try manager.storage.lock(key, for: xid, snapshot: isolation == .readCommitted ? nil : snapshot)
            addSpan(.storageAccess, since: lockStart)
        } catch let error as StorageError {
            throw failIf(poison, TransactionError(error, xid: xid))
        } catch let error as TransactionError {
            addSpan(.lockWait, since: start)
            throw failIf(poison, error)
        } catch {
            throw failIf(poison, TransactionError(.internalError, "\(error)", xid: xid, key: key))
        }
    }

    private func checkUsable() throws(TransactionError) {
        let (phase, failed) = state.withLock { ($0.phase, $0.failed) }
        guard phase == .active else { throw notActive(phase) }
        if let failed {
            throw TransactionError(
                .inFailedTransaction,
                "current transaction is aborted, commands ignored until end of transaction block (after \(failed.sqlState))",
                xid: xid)
        }
    }

    /// 25000 for a statement or an end on a transaction in `phase` (not active).
    func notActive(_ phase: Phase) -> TransactionError {
        TransactionError(.invalidTransactionState, "transaction \(xid) is not active (it is \(phase))", xid: xid)
    }

    func failIf(_ poison: Bool, _ error: TransactionError) -> TransactionError {
        poison ? fail(error) : error
    }

    @discardableResult
    func fail(_ error: TransactionError) -> TransactionError {
        state.withLock { s in if s.failed == nil { s.failed = error } }
        return error
    }

    func addSpan(_ kind: SpanKind, since start: UInt64) {
        let elapsed = manager.clock.nowNanos() &- start
        state.withLock { $0.trace.add(kind, elapsed) }
    }

    func addSpan(_ kind: SpanKind, nanos: UInt64) {
        state.withLock { $0.trace.add(kind, nanos) }
    }
}
