import Foundation
import Histogram
import Runtime
import Storage
import Synchronization

/// The zero-set-up backend: every node in this process, each with its own data directory, WAL
/// and fsyncs. One region of one replica is a standalone node (L0 + L1, its own WAL). Anything
/// larger is a `ReplicatedCluster`: every region a Raft group of its replicas over the simulated
/// WAN, whose Raft logs are the replicas' WALs, with two-phase commit across regions.
public final class EmbeddedBackend: Backend {
    /// `embedded`.
    public let name = "embedded"
    private let configuration: EngineConfiguration
    private let shape: Shape

    private enum Shape {
        case standalone(node: NodeID, directory: String, executor: NodeExecutor)
        case replicated(ReplicatedCluster)
    }

    /// Assembles the engine: a standalone node, or Raft groups (starting every replica and
    /// electing replica 0 of each region).
    public init(configuration: EngineConfiguration) throws {
        guard !configuration.regions.isEmpty else {
            throw UnsupportedConfiguration("the engine needs at least one region")
        }
        for region in configuration.regions where region.replicas < 1 {
            throw UnsupportedConfiguration(
                "region '\(region.name)' declares \(region.replicas) replicas; it needs 1 or more")
        }
        self.configuration = configuration
        if configuration.regions.count == 1, let region = configuration.regions.first, region.replicas == 1 {
            let node = NodeID(region: region.name, replica: 0)
            let directory = configuration.dataDirectory + "/\(node)"
            let storage = try StorageEngine(
                directory: directory,
                options: StorageOptions(durability: configuration.durability, paceCheckpointsByImage: true))
            shape = .standalone(
                node: node, directory: directory,
                executor: NodeExecutor(storage: storage, configuration: configuration))
        } else {
            shape = .replicated(try ReplicatedCluster(configuration: configuration))
        }
    }

    /// The replicated cluster, nil for a standalone node (tests drive its hooks and counters).
    var replicatedCluster: ReplicatedCluster? {
        if case .replicated(let cluster) = shape { return cluster }
        return nil
    }

    public func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    {
        guard case .standalone(_, _, let executor) = shape else {
            guard case .replicated(let cluster) = shape else { return 0 }
            return try await cluster.load(accounts: count, initialBalance: initialBalance, progress: progress)
        }
        try await executor.pool.prewarm()
        let payload = [UInt8](repeating: 0, count: configuration.payloadBytes)
        // Storage's bulk load (one WAL record per chunk, a pre-sized heap, one fsync per batch):
        // linear in the accounts. Batches of at least 256 Ki rows bound the progress steps.
        let batch = max(configuration.loadBatchSize, 1 << 18)
        var loaded = 0
        while loaded < count {
            let end = min(count, loaded + batch)
            try await executor.storage.bulkLoad(
                keys: AccountID(loaded)..<AccountID(end), row: Row(balance: initialBalance, payload: payload))
            loaded = end
            progress(loaded)
        }
        return loaded
    }

    public func transfer(_ request: TransferRequest) async -> TransferResult {
        switch shape {
        case .replicated(let cluster):
            return await cluster.transfer(request)
        case .standalone(_, _, let executor):
            let start = configuration.clock.nowNanos()
            // Refused before a session is taken; `Transfer.execute` checks again, whatever its caller.
            do { try Transfer.validate(request) } catch {
                return NodeExecutor.result(
                    .failure(error), retried: [], trace: Trace(), start: start, xid: 0, configuration.clock)
            }
            return await executor.execute(request, trace: Trace(), start: start)
        }
    }

    /// Every node's counters.
    public func counters() -> BackendCounters {
        switch shape {
        case .replicated(let cluster): cluster.counters()
        case .standalone(let node, _, let executor): BackendCounters(nodes: [node: executor.counters()])
        }
    }

    public func gauges() -> [String: Double] {
        switch shape {
        case .replicated(let cluster): cluster.gauges()
        case .standalone(_, _, let executor): executor.gauges()
        }
    }

    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        guard case .standalone(let node, let nodeDirectory, let executor) = shape else {
            guard case .replicated(let cluster) = shape else { throw UnsupportedConfiguration("no engine") }
            return try await cluster.audit(expectation)
        }
        await executor.pool.close()
        executor.storage.crash(losingUnsyncedWrites: expectation.crash == .powerFailure)
        let recovered = try StorageEngine(
            directory: nodeDirectory,
            options: StorageOptions(durability: configuration.durability, paceCheckpointsByImage: true))
        defer { try? recovered.close() }
        var report = AuditReport(
            expectedTotal: expectation.initialBalance &* Int64(expectation.accounts),
            acknowledged: expectation.acknowledged.count, stateHashes: [node: recovered.stateHash()],
            recoveries: [node: NodeRecovery(recovered.recovery)])
        var ledger = LedgerAudit(expectation)
        for entry in recovered.committedRows() { ledger.add(entry, to: &report) }
        ledger.finish(expectation, into: &report)
        return report
    }

    public func shutdown() async throws {
        switch shape {
        case .replicated(let cluster):
            await cluster.shutdown()
        case .standalone(_, _, let executor):
            await executor.pool.close()
            if !executor.storage.isClosed { try executor.storage.close() }
        }
    }
}
