import Storage
import Synchronization

/// L1's transaction manager: begin / commit / abort / prepare over one storage engine, with the
/// lock manager, serializable conflict tracking, and `run`, which executes a transaction
/// closure with retries.
public final class TransactionManager: Sendable {
    /// The storage engine (L0) under this runtime.
    public let storage: StorageEngine
    /// Row locks with wait queues and deadlock detection.
    public let locks: LockManager
    /// The settings.
    public let options: RuntimeOptions
    /// The clock of lock timeouts, retry backoff and every span.
    public let clock: any EngineClock
    let ssi = SerializableConflictTracker()
    /// The replicated log commits go through (a replica's runtime), nil for a standalone node.
    public let replication: (any CommitReplication)?
    private let counters = Mutex(RuntimeStatistics())

    /// Creates a runtime over `storage`; prepared transactions restored by recovery keep their
    /// rows locked in the lock manager too. Lock timeouts, retry backoff and spans run on `clock`.
    public init(
        storage: StorageEngine, options: RuntimeOptions = RuntimeOptions(), clock: any EngineClock = SystemClock.shared,
        replication: (any CommitReplication)? = nil
    ) {
        self.storage = storage
        self.replication = replication
        self.options = options
        self.clock = clock
        self.locks = LockManager(clock: clock)
        for (xid, keys) in storage.preparedLocks() { locks.adopt(keys, for: xid) }
    }

    /// Begins a transaction. `xid`, when given, is imposed by L2 (its global timestamp); it must
    /// be above every id this node has seen, else 40001 (the coordinator retries later).
    public func begin(_ isolation: IsolationLevel, xid: TransactionID? = nil) throws(TransactionError) -> Transaction {
        let id: TransactionID
        do { id = try storage.begin(xid: xid) } catch { throw TransactionError(error, xid: xid) }
        // Registered before the snapshot is taken: a transaction that finishes committing after
        // registration counts as concurrent, and one that finished before it is visible to the
        // snapshot (registering after would miss rw-antidependencies with a transaction that
        // committed between the two steps).
        if isolation == .serializable { ssi.register(id) }
        locks.begin(id)
        do {
            let snapshot = try storage.snapshot(for: id)
            return Transaction(xid: id, isolation: isolation, manager: self, snapshot: snapshot)
        } catch {
            // Storage began it: end it there too, or it would stay running (and hold the vacuum
            // horizon) for ever.
            try? storage.abort(id)
            locks.end(id)
            ssi.finish(id, committed: false)
            throw TransactionError(error, xid: id)
        }
    }

    /// Moves an active transaction to `phase` (committing or preparing). Returns the error of a
    /// failed statement instead, leaving the transaction active for the caller to roll back;
    /// throws 25000 if the transaction is not active (already committed, aborted or prepared,
    /// or being committed or prepared by another call).
    private func startEnding(_ transaction: Transaction, _ phase: Transaction.Phase) throws(TransactionError)
        -> TransactionError?
    {
        let (current, failed) = transaction.state.withLock { s -> (Transaction.Phase, TransactionError?) in
            let seen = (s.phase, s.failed)
            if s.phase == .active && s.failed == nil { s.advance(to: phase) }
            return seen
        }
        guard current == .active else { throw transaction.notActive(current) }
        return failed
    }

    /// Splits a replicated commit's or prepare's wait since `start`: the leader's own log write
    /// (L0 `walFlush`), the wait beyond it for followers (L2 `replication`), the rest storage work.
    private func addReplicationSpans(_ transaction: Transaction, _ receipt: ReplicationReceipt, since start: UInt64) {
        let elapsed = clock.nanosSince(start)
        let log = min(receipt.logNanos, elapsed)
        let replicated = min(receipt.replicationNanos, elapsed &- log)
        transaction.addSpan(.walFlush, nanos: log)
        transaction.addSpan(.replication, nanos: replicated)
        transaction.addSpan(.storageAccess, nanos: elapsed &- log &- replicated)
    }

    /// `startEnding`, then SSI's pivot check: a failed statement aborts the transaction and is
    /// thrown, a pivot rolls it back and throws 40001.
    private func startEndingChecked(_ transaction: Transaction, _ phase: Transaction.Phase) throws(TransactionError) {
        if let failed = try startEnding(transaction, phase) {
            abort(transaction)
            throw failed
        }
        if transaction.isolation == .serializable {
            do { try ssi.preCommit(transaction.xid) } catch {
                rollBack(transaction)
                throw transaction.fail(error)
            }
        }
    }

    /// Commits: SSI's pivot check, then storage's durable commit (the WAL flush is the `walFlush`
    /// span), then the locks go. A failed transaction is rolled back and its statement's error
    /// thrown; a failure of the commit aborts the transaction and throws; a transaction that is
    /// not active is refused with 25000 and left as it is.
    public func commit(_ transaction: Transaction) async throws(TransactionError) {
        let xid = transaction.xid
        try startEndingChecked(transaction, .committing)
        let start = clock.nowNanos()
        do {
            if let replication, case let writes = try storage.writeSet(of: xid), !writes.isEmpty {
                let receipt: ReplicationReceipt
                do { receipt = try await replication.replicateCommit(xid, writes: writes) } catch {
                    // Never committed here: the versions die and the row locks go.
                    try? storage.abort(xid)
                    throw error
                }
                addReplicationSpans(transaction, receipt, since: start)
            } else {
                let receipt = try await storage.commit(xid)
                let elapsed = clock.nanosSince(start)
                transaction.addSpan(.walFlush, nanos: min(receipt.waitNanos, elapsed))
                transaction.addSpan(.storageAccess, nanos: elapsed &- min(receipt.waitNanos, elapsed))
            }
        } catch {
            transaction.state.withLock { $0.advance(to: .aborted) }
            locks.end(xid)
            ssi.finish(xid, committed: false)
            counters.withLock { $0.aborts += 1 }
            if let error = error as? TransactionError { throw transaction.fail(error) }
            throw transaction.fail(TransactionError((error as? StorageError) ?? .closed, xid: xid))
        }
        transaction.state.withLock { $0.advance(to: .committed) }
        locks.end(xid)
        ssi.finish(xid, committed: true)
        counters.withLock { $0.commits += 1 }
    }

    /// Aborts (ROLLBACK): versions die, locks go, and a lock wait of the transaction still queued
    /// (from another task) fails. Safe to call on a failed transaction, and a no-op on one that
    /// is no longer active (committed, aborted, prepared: see `abortPrepared`; or being
    /// committed or prepared by another call, which decides its end).
    public func abort(_ transaction: Transaction) {
        let wasActive = transaction.state.withLock { s -> Bool in
            guard s.phase == .active else { return false }
            s.advance(to: .aborted)
            return true
        }
        guard wasActive else { return }
        finishAbort(transaction.xid)
    }

    /// Rolls back a transaction this manager moved to `committing` or `preparing` and that
    /// failed before storage finished it.
    private func rollBack(_ transaction: Transaction) {
        transaction.state.withLock { $0.advance(to: .aborted) }
        finishAbort(transaction.xid)
    }

    private func finishAbort(_ xid: TransactionID) {
        try? storage.abort(xid)
        locks.end(xid)
        ssi.finish(xid, committed: false)
        counters.withLock { $0.aborts += 1 }
    }

    /// Prepares for two-phase commit (PREPARE TRANSACTION): durable, keeps its locks. A
    /// transaction whose statement failed is refused exactly as `commit` refuses it (rolled back,
    /// the statement's error thrown), so a partial transfer can never commit through 2PC; one
    /// that is not active is refused with 25000.
    public func prepare(_ transaction: Transaction) async throws(TransactionError) {
        let xid = transaction.xid
        try startEndingChecked(transaction, .preparing)
        let start = clock.nowNanos()
        do { try await storage.prepare(xid) } catch {
            rollBack(transaction)
            throw transaction.fail(TransactionError(error, xid: xid))
        }
        transaction.state.withLock { $0.advance(to: .prepared) }
        transaction.addSpan(.walFlush, since: start)
    }

    /// Prepares through the region's replicated log (a participant of two-phase commit across
    /// regions): as `prepare`, but the durable prepared state is the prepare entry `replicate`
    /// proposes with the transaction's write set; `replicate` returns once the entry is
    /// acknowledged and storage holds the transaction prepared (`prepareReplicated`). The locks
    /// stay held until `finishReplicatedPrepared`. A failed statement is refused as `commit`
    /// refuses it; a failure of `replicate` aborts the transaction here.
    public func prepareReplicated(
        _ transaction: Transaction,
        replicate: (_ writes: [ReplicatedWrite]) async throws(TransactionError) -> ReplicationReceipt
    ) async throws(TransactionError) {
        let xid = transaction.xid
        try startEndingChecked(transaction, .preparing)
        let start = clock.nowNanos()
        let writes: [ReplicatedWrite]
        do { writes = try storage.writeSet(of: xid) } catch {
            rollBack(transaction)
            throw transaction.fail(TransactionError(error, xid: xid))
        }
        let receipt: ReplicationReceipt
        do { receipt = try await replicate(writes) } catch {
            rollBack(transaction)
            throw transaction.fail(error)
        }
        addReplicationSpans(transaction, receipt, since: start)
        transaction.state.withLock { $0.advance(to: .prepared) }
    }

    /// A transaction prepared through the replicated log was finished there (its commit or abort
    /// entry applied, storage committed or aborted it): its locks go.
    public func finishReplicatedPrepared(_ xid: TransactionID, committed: Bool) {
        locks.end(xid)
        ssi.finish(xid, committed: committed)
        counters.withLock {
            if committed { $0.commits += 1 } else { $0.aborts += 1 }
        }
    }

    /// Commits a prepared transaction (COMMIT PREPARED), also one restored by recovery. A
    /// transaction that is not prepared is refused (25P02) and left as it is: a running one
    /// (perhaps failed, a partial transfer) is ended only through its handle.
    public func commitPrepared(_ xid: TransactionID) async throws(TransactionError) {
        do { try await storage.commitPrepared(xid) } catch { throw TransactionError(error, xid: xid) }
        locks.end(xid)
        ssi.finish(xid, committed: true)
        counters.withLock { $0.commits += 1 }
    }

    /// Aborts a prepared transaction (ROLLBACK PREPARED), durably.
    public func abortPrepared(_ xid: TransactionID) async throws(TransactionError) {
        do { try await storage.abortPrepared(xid) } catch { throw TransactionError(error, xid: xid) }
        locks.end(xid)
        ssi.finish(xid, committed: false)
        counters.withLock { $0.aborts += 1 }
    }

    /// Runs `body` in a transaction and commits it, retrying retryable failures (40001, 40P01)
    /// per `retry`: each retry aborts the failed attempt, sleeps an exponential backoff with
    /// full jitter, and runs the whole closure again in a new transaction (writes are never
    /// replayed). An error thrown by the body itself that is not a `TransactionError` (a
    /// business rejection) aborts and ends the run without retry.
    ///
    /// - Parameter xid: the timestamp provider: supplies the id of each attempt (L2's
    ///   timestamp, possibly after a round trip to the timestamp oracle; its time is the L2
    ///   `timestamp` span). A provider returning nil, or none (the default, local behaviour, at
    ///   no cost), lets L0 assign the id. An error it throws fails the attempt as a `begin`
    ///   error would (retried if retryable).
    public func run<Value: Sendable>(
        _ isolation: IsolationLevel, retry: RetryPolicy? = nil,
        random: inout some RandomNumberGenerator,
        xid: (@Sendable (_ attempt: Int) async throws(TransactionError) -> TransactionID?)? = nil,
        _ body: (Transaction) async throws -> Value
    ) async -> Execution<Value> {
        let policy = retry ?? options.retry
        let started = clock.nowNanos()
        var trace = Trace()
        var retried: [String] = []
        var attempt = 0
        var lastXid: TransactionID = 0
        while true {
            attempt += 1
            let outcome: Result<Value, any Error>
            var transaction: Transaction?
            do {
                var imposed: TransactionID?
                if let xid {
                    let asked = clock.nowNanos()
                    defer { trace.add(.timestamp, clock.nowNanos() &- asked) }
                    imposed = try await xid(attempt)
                }
                let beginStart = clock.nowNanos()
                let txn = try begin(isolation, xid: imposed)
                transaction = txn
                lastXid = txn.xid
                trace.add(.begin, clock.nowNanos() &- beginStart)
                let value = try await body(txn)
                try await commit(txn)
                outcome = .success(value)
            } catch {
                if let transaction { abort(transaction) }
                outcome = .failure(error)
            }
            if let transaction { trace.add(transaction.trace) }
            guard case .failure(let error) = outcome, let failure = error as? TransactionError else {
                return finish(outcome, attempt, retried, &trace, started, lastXid)
            }
            counters.withLock { $0.errorsBySQLState[failure.sqlState, default: 0] += 1 }
            let elapsed = Duration.nanoseconds(Int64(clock.nowNanos() &- started))
            guard failure.code.isRetryable else { return finish(outcome, attempt, retried, &trace, started, lastXid) }
            guard attempt < policy.maxAttempts, elapsed < policy.maxTotal else {
                counters.withLock { $0.retriesExhausted += 1 }
                return finish(outcome, attempt, retried, &trace, started, lastXid)
            }
            retried.append(failure.sqlState)
            let backoff = policy.backoff(beforeRetry: attempt, using: &random)
            let sleepStart = clock.nowNanos()
            if backoff > .zero { try? await clock.sleep(for: backoff) }
            let slept = clock.nowNanos() &- sleepStart
            trace.add(.retryBackoff, slept)
            counters.withLock {
                $0.retries += 1
                $0.backoffNanos += slept
            }
        }
    }

    private func finish<Value>(
        _ outcome: Result<Value, any Error>, _ attempts: Int, _ retried: [String], _ trace: inout Trace,
        _ started: UInt64, _ xid: TransactionID
    ) -> Execution<Value> {
        let endToEnd = clock.nowNanos() &- started
        trace.closeExecution(endToEndNanos: endToEnd)
        return Execution(
            result: outcome, attempts: attempts, retriedErrors: retried, trace: trace, endToEndNanos: endToEnd, xid: xid
        )
    }

    /// Runtime counters (commits, aborts, retries, errors by SQLSTATE).
    public var statistics: RuntimeStatistics { counters.withLock { $0 } }
}
