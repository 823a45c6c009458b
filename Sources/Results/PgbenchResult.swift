/// What `pgbench` measured on the same server, with the same accounts, clients, duration and
/// isolation as a variant of LayerBench's postgres backend (an equivalent custom script): put
/// next to the variant's own TPS and latency in the report.
public struct PgbenchResult: Sendable, Equatable, Codable {
    /// Clients (`-c`) and threads (`-j`).
    public var clients: Int
    /// Threads (`-j`).
    public var threads: Int
    /// The measured seconds (`-T`).
    public var durationSeconds: Double
    /// Transactions processed, as pgbench reports.
    public var transactions: Int
    /// Transactions that failed (serialization or deadlock failures pgbench counted).
    public var failedTransactions: Int
    /// TPS, as pgbench reports (without initial connection time).
    public var tps: Double
    /// Mean latency in milliseconds, as pgbench reports.
    public var latencyAverageMs: Double
    /// Latency standard deviation in milliseconds, when reported.
    public var latencyStddevMs: Double?
    /// The command line run (for the report: how to reproduce it).
    public var command: String
    /// The custom script pgbench ran.
    public var script: String

    /// Creates a result.
    public init(
        clients: Int, threads: Int, durationSeconds: Double, transactions: Int, failedTransactions: Int, tps: Double,
        latencyAverageMs: Double, latencyStddevMs: Double?, command: String, script: String
    ) {
        self.clients = clients
        self.threads = threads
        self.durationSeconds = durationSeconds
        self.transactions = transactions
        self.failedTransactions = failedTransactions
        self.tps = tps
        self.latencyAverageMs = latencyAverageMs
        self.latencyStddevMs = latencyStddevMs
        self.command = command
        self.script = script
    }
}
