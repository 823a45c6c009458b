import Foundation
import Histogram
import Runtime
import Storage
import Synchronization

/// The zero-set-up backend: every node in this process, each with its own data directory, WAL
/// and fsyncs. This version assembles one region with one node (L0 + L1); regions, replicas and
/// the L2 coordinator arrive with the distributed layer and plug in here.
public final class EmbeddedBackend: Backend {
    /// `embedded`.
    public let name = "embedded"
    private let configuration: EngineConfiguration
    private let node: NodeID
    private let nodeDirectory: String
    private let storage: StorageEngine
    private let runtime: TransactionManager
    private let pool: SessionPool<EmbeddedSessionFactory>
    private let batcher: BatchCommitter<Void>?
    private let clock: any EngineClock

    /// Assembles the engine; throws `UnsupportedConfiguration` for shapes that need L2.
    public init(configuration: EngineConfiguration) throws {
        guard configuration.regions.count == 1, let region = configuration.regions.first else {
            throw UnsupportedConfiguration(
                "the embedded engine runs one region until the distributed layer (L2: clocks, Raft, 2PC) "
                    + "arrives; the spec declares \(configuration.regions.count)")
        }
        guard region.replicas == 1 else {
            throw UnsupportedConfiguration(
                "region '\(region.name)' asks for \(region.replicas) replicas; replication (one Raft group per "
                    + "region) arrives with L2, so use replicas: 1 for now")
        }
        self.configuration = configuration
        node = NodeID(region: region.name, replica: 0)
        nodeDirectory = configuration.dataDirectory + "/\(node)"
        storage = try StorageEngine(
            directory: nodeDirectory, options: StorageOptions(durability: configuration.durability))
        clock = configuration.clock
        let runtime = TransactionManager(storage: storage, options: configuration.runtime, clock: configuration.clock)
        self.runtime = runtime
        pool = SessionPool(
            factory: EmbeddedSessionFactory(storage: storage, payloadBytes: configuration.payloadBytes),
            options: configuration.pool, clock: configuration.clock)
        batcher = configuration.batch.map {
            BatchCommitter(manager: runtime, isolation: configuration.isolation, options: $0)
        }
    }

    public func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    {
        try await pool.prewarm()
        let payload = [UInt8](repeating: 0, count: configuration.payloadBytes)
        // Storage's bulk load (one WAL record per chunk, a pre-sized heap, one fsync per batch):
        // linear in the accounts. Batches of at least 256 Ki rows bound the progress steps.
        let batch = max(configuration.loadBatchSize, 1 << 18)
        var loaded = 0
        while loaded < count {
            let end = min(count, loaded + batch)
            try await storage.bulkLoad(
                keys: AccountID(loaded)..<AccountID(end), row: Row(balance: initialBalance, payload: payload))
            loaded = end
            progress(loaded)
        }
        return loaded
    }

    public func transfer(_ request: TransferRequest) async -> TransferResult {
        let start = clock.nowNanos()
        // Refused before a session is taken; `Transfer.execute` checks again, whatever its caller.
        do { try Transfer.validate(request) } catch {
            return result(.failure(error), retried: [], trace: Trace(), start: start, xid: 0)
        }
        let lease: SessionPool<EmbeddedSessionFactory>.Lease
        do {
            lease = try await pool.acquire()
        } catch {
            let code = (error as? TransactionError)?.sqlState ?? TransactionError.Code.internalError.rawValue
            var trace = Trace()
            trace.add(.poolWait, clock.nowNanos() &- start)
            return TransferResult(
                .failed(sqlState: code), retried: [], trace: trace, endToEnd: clock.nowNanos() &- start, xid: 0)
        }
        var trace = Trace()
        trace.add(.poolWait, clock.nowNanos() &- start)
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
                return result(outcome.result, retried: [], trace: trace, start: start, xid: outcome.xid)
            }
            if case .failure(let error as TransactionError) = outcome.result { retried.append(error.sqlState) }
        }
        var random = SplitMix64(seed: request.id)
        let execution = await runtime.run(configuration.isolation, random: &random) { transaction in
            try await Transfer.execute(
                request, in: transaction, overdraft: overdraft, payload: session.accountPayload,
                ledgerPayload: ledgerPayload)
        }
        // `run` closed its execution span against its own clock; this transfer's is re-closed
        // against the whole call (pool wait and batch included) by `TransferResult`.
        trace.add(execution.trace.withoutExecution())
        retried += execution.retriedErrors
        return result(execution.result, retried: retried, trace: trace, start: start, xid: execution.xid)
    }

    private func result(
        _ result: Result<Void, any Error>, retried: [String], trace: Trace, start: UInt64, xid: TransactionID
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

    /// The node's counters (one node until L2 assembles replicas).
    public func counters() -> BackendCounters {
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
        return BackendCounters(nodes: [node: counters])
    }

    public func gauges() -> [String: Double] {
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

    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        await pool.close()
        storage.crash(losingUnsyncedWrites: expectation.crash == .powerFailure)
        let recovered = try StorageEngine(
            directory: nodeDirectory, options: StorageOptions(durability: configuration.durability))
        defer { try? recovered.close() }
        let rows = recovered.committedRows()
        var balances = [Int64](repeating: expectation.initialBalance, count: expectation.accounts)
        var report = AuditReport(
            expectedTotal: expectation.initialBalance &* Int64(expectation.accounts),
            acknowledged: expectation.acknowledged.count, stateHashes: [node: recovered.stateHash()],
            recoveries: [node: NodeRecovery(recovered.recovery)])
        var ledger: [UInt64: TransactionID] = [:]
        var actual: [AccountID: Int64] = [:]
        for entry in rows {
            if entry.key >= Transfer.ledgerBase {
                ledger[entry.key & ~Transfer.ledgerBase] = entry.xmin
                Transfer.forEachLeg(inLedger: entry.row.payload, amount: entry.row.balance) { account, amount in
                    if account < balances.count { balances[Int(account)] &+= amount }
                }
            } else {
                actual[entry.key] = entry.row.balance
                report.accountsFound += 1
                report.actualTotal &+= entry.row.balance
                if entry.row.balance < 0 { report.negativeAccounts += 1 }
            }
        }
        for (index, expected) in balances.enumerated() where actual[AccountID(index)] != expected {
            report.balanceMismatches += 1
        }
        for (id, xid) in expectation.acknowledged {
            guard let found = ledger[id] else {
                report.lost += 1
                continue
            }
            if found != xid { report.xidMismatches += 1 }
        }
        return report
    }

    public func shutdown() async throws {
        await pool.close()
        if !storage.isClosed { try storage.close() }
    }
}
