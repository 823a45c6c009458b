import Runtime
import Storage

/// What the workload driver talks to: an assembled engine of regions and nodes, embedded in this
/// process or made of real PostgreSQL servers. The driver knows nothing else about the engine.
public protocol Backend: Sendable {
    /// The backend's name (`embedded`, `postgres`) and shape, for reports.
    var name: String { get }
    /// Creates the accounts `0..<count`, each with `initialBalance`, in one transaction per
    /// `batchSize` accounts. Returns the number created.
    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    /// Executes one transfer (its legs, atomically, with the runtime's retries) and reports its
    /// outcome and trace. A request no bank would execute (see ``TransferRequest``: legs that do
    /// not sum to zero, an account twice, an unknown account, no debit or no credit, an amount
    /// <= 0) fails with SQLSTATE 22023 (`TransferResult.invalidInputSQLState`) before any write.
    func transfer(_ request: TransferRequest) async -> TransferResult
    /// Cumulative counters (fsyncs, WAL bytes, retries, ...) per node: the driver reports
    /// differences, summed over the nodes (``BackendCounters/totals``).
    func counters() -> BackendCounters
    /// Instantaneous gauges (pool high-water, heap versions, ...): reported as read at the end.
    func gauges() -> [String: Double]
    /// Crash-and-recover every node, then audit the state against the acknowledged transfers:
    /// conservation, negative balances, ledger (durability, exactly-once, xid identity).
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport
    /// Stops every node and removes nothing (the caller owns the data directories).
    func shutdown() async throws
}
