import Histogram
import Runtime
import Storage

/// One node's L1 over its L0: the runtime, the session pool and the batch committer, executing
/// transfers (the standalone node, and each leader of a replicated region).
final class NodeExecutor: Sendable {
    let storage: StorageEngine
    let runtime: TransactionManager
    let pool: SessionPool<EmbeddedSessionFactory>
    let batcher: BatchCommitter<Void>?
    private let configuration: EngineConfiguration

    init(storage: StorageEngine, configuration: EngineConfiguration, replication: (any CommitReplication)? = nil) {
        self.storage = storage
        self.configuration = configuration
        let runtime = TransactionManager(
            storage: storage, options: configuration.runtime, clock: configuration.clock, replication: replication)
        self.runtime = runtime
        pool = SessionPool(
            factory: EmbeddedSessionFactory(storage: storage, payloadBytes: configuration.payloadBytes),
            options: configuration.pool, clock: configuration.clock)
        batcher = configuration.batch.map {
            BatchCommitter(manager: runtime, isolation: configuration.isolation, options: $0)
        }
    }

    private var clock: any EngineClock { configuration.clock }

    /// Executes a validated transfer (pool wait, batch commit or a transaction with retries);
    /// `trace` already holds the spans before this node (L2: timestamp, redirect), `start` is
    /// when the transfer began.
    /// `xid`, when given, supplies each attempt's transaction id (L2's timestamp; its time is the
    /// `timestamp` span); batch commit then still runs the transfer as a batch member under the
    /// batch's own id.
    func execute(
        _ request: TransferRequest, trace before: Trace, start: UInt64,
        xid: (@Sendable (_ attempt: Int) async throws(TransactionError) -> TransactionID?)? = nil
    ) async -> TransferResult {
        var trace = before
        let asked = clock.nowNanos()
        let lease: SessionPool<EmbeddedSessionFactory>.Lease
        do {
            lease = try await pool.acquire()
        } catch {
            let code = (error as? TransactionError)?.sqlState ?? TransactionError.Code.internalError.rawValue
            trace.add(.poolWait, clock.nowNanos() &- asked)
            return TransferResult(
                .failed(sqlState: code), retried: [], trace: trace, endToEnd: clock.nowNanos() &- start, xid: 0)
        }
        trace.add(.poolWait, clock.nowNanos() &- asked)
        defer { pool.release(lease) }
        let session = lease.session
        let overdraft = configuration.overdraft
        let ledgerPayload = Transfer.ledgerPayload(legs: request.legs, padding: configuration.payloadBytes)
        var retried: [String] = []
        if let batcher {
            let outcome = await batcher.submit { member in
                try await Transfer.execute(
                    request, in: member, overdraft: overdraft, payload: session.accountPayload,
                    ledgerPayload: ledgerPayload)
            }
            trace.add(outcome.trace)
            if !outcome.runAlone {
                return Self.result(outcome.result, retried: [], trace: trace, start: start, xid: outcome.xid, clock)
            }
            if case .failure(let error as TransactionError) = outcome.result { retried.append(error.sqlState) }
        }
        var random = SplitMix64(seed: request.id)
        let execution = await runtime.run(configuration.isolation, random: &random, xid: xid) { transaction in
            try await Transfer.execute(
                request, in: transaction, overdraft: overdraft, payload: session.accountPayload,
                ledgerPayload: ledgerPayload)
        }
        // `run` closed its execution span against its own clock; this transfer's is re-closed
        // against the whole call (pool wait and batch included) by `TransferResult`.
        trace.add(execution.trace.withoutExecution())
        retried += execution.retriedErrors
        return Self.result(execution.result, retried: retried, trace: trace, start: start, xid: execution.xid, clock)
    }

    static func result(
        _ result: Result<Void, any Error>, retried: [String], trace: Trace, start: UInt64, xid: TransactionID,
        _ clock: any EngineClock
    ) -> TransferResult {
        let endToEnd = clock.nowNanos() &- start
        switch result {
        case .success: return TransferResult(.committed, retried: retried, trace: trace, endToEnd: endToEnd, xid: xid)
        case .failure(let error as TransactionError):
            return TransferResult(
                .failed(sqlState: error.sqlState), retried: retried, trace: trace, endToEnd: endToEnd, xid: 0)
        case .failure(is Transfer.InvalidRequest):
            return TransferResult(
                .failed(sqlState: Transfer.InvalidRequest.sqlState), retried: retried, trace: trace,
                endToEnd: endToEnd, xid: 0)
        case .failure(is Transfer.Rejection):
            return TransferResult(.rejected, retried: retried, trace: trace, endToEnd: endToEnd, xid: 0)
        case .failure:
            return TransferResult(
                .failed(sqlState: TransactionError.Code.internalError.rawValue), retried: retried, trace: trace,
                endToEnd: endToEnd, xid: 0)
        }
    }

    /// The node's L0 and L1 counters.
    func counters() -> [String: Double] {
        let s = storage.statistics()
        let r = runtime.statistics
        let l = runtime.locks.statistics
        let p = pool.statistics
        var counters: [String: Double] = [
            "fsyncs": Double(s.wal.fsyncs),
            "wal_writes": Double(s.wal.writes),
            "wal_bytes": Double(s.wal.bytesWritten),
            "wal_flushes_with_commits": Double(s.wal.commitFlushes),
            "wal_commits_flushed": Double(s.wal.commitsFlushed),
            "wal_write_ms": Double(s.wal.writeNanos) / 1e6,
            "wal_fsync_ms": Double(s.wal.fsyncNanos) / 1e6,
            "wal_append_ms": Double(s.walAppendNanos) / 1e6,
            "versions_written": Double(s.versionsWritten),
            "versions_pruned": Double(s.versionsPruned),
            "storage_commits": Double(s.commits),
            "storage_aborts": Double(s.aborts),
            "row_lock_conflicts": Double(s.rowLockConflicts),
            "concurrent_update_conflicts": Double(s.concurrentUpdateConflicts),
            "checkpoints": Double(s.checkpoints),
            "checkpoint_failures": Double(s.checkpointFailures),
            "checkpoint_mb": Double(s.checkpointBytes) / 1_048_576,
            "vacuums": Double(s.vacuums),
            "vacuum_rows_scanned": Double(s.vacuumRowsScanned),
            "versions_vacuumed": Double(s.versionsVacuumed),
            "versions_frozen": Double(s.versionsFrozen),
            "lock_waits": Double(l.waits),
            "lock_wait_ms": Double(l.waitNanos) / 1e6,
            "lock_timeouts": Double(l.timeouts),
            "deadlocks": Double(l.deadlocks),
            "runtime_commits": Double(r.commits),
            "runtime_aborts": Double(r.aborts),
            "retries": Double(r.retries),
            "retry_backoff_ms": Double(r.backoffNanos) / 1e6,
            "retries_exhausted": Double(r.retriesExhausted),
            "pool_acquires": Double(p.acquires),
            "pool_waits": Double(p.waits),
            "pool_timeouts": Double(p.timeouts),
        ]
        if let batcher {
            let b = batcher.statistics
            counters["batches"] = Double(b.batches)
            counters["batch_members"] = Double(b.members)
            counters["batch_members_ran_alone"] = Double(b.ranAlone)
            counters["batches_failed"] = Double(b.failedBatches)
        }
        return counters
    }

    /// The node's gauges.
    func gauges() -> [String: Double] {
        let s = storage.statistics()
        let p = pool.statistics
        return [
            "pool_size_max": Double(configuration.pool.maxSize),
            "pool_high_water": Double(p.highWater),
            "pool_wait_p99_us": Double(p.waitMicros.totalCount > 0 ? p.waitMicros.valueAtPercentile(99) : 0),
            "heap_versions": Double(s.versionsInHeap),
            "commit_log_entries": Double(s.commitLogEntries),
            "wal_max_commits_per_flush": Double(s.wal.maxCommitsPerFlush),
        ]
    }
}
