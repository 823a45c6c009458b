import Runtime
import Storage

/// How to assemble an engine: regions, nodes, and the settings of each layer.
public struct EngineConfiguration: Sendable {
    /// A region and its replica count.
    public struct Region: Sendable, Hashable {
        /// The region's name (a directory name).
        public var name: String
        /// Replicas per region (one Raft group per region arrives with L2).
        public var replicas: Int

        /// Creates a region.
        public init(name: String, replicas: Int) {
            self.name = name
            self.replicas = replicas
        }
    }

    /// The regions.
    public var regions: [Region]
    /// Where node data directories go (one per replica).
    public var dataDirectory: String
    /// L0: durability of commits.
    public var durability: Durability
    /// L1: isolation of transfers.
    public var isolation: IsolationLevel
    /// L1: lock timeout and retry policy.
    public var runtime: RuntimeOptions
    /// L1: the session pool of each node.
    public var pool: PoolOptions
    /// L1: batch commit bounds, nil when batch commit is off.
    public var batch: BatchCommitter<Void>.Options?
    /// Bytes of payload stored with each account and ledger row.
    public var payloadBytes: Int
    /// Whether balances may go negative (else a transfer that would overdraw is rejected).
    public var overdraft: Bool
    /// Accounts loaded per load transaction.
    public var loadBatchSize: Int
    /// The clock of the runtime (lock timeouts, pool waits, batch windows, retry backoff, spans).
    public var clock: any EngineClock

    /// Creates a configuration.
    public init(
        regions: [Region], dataDirectory: String, durability: Durability, isolation: IsolationLevel,
        runtime: RuntimeOptions, pool: PoolOptions, batch: BatchCommitter<Void>.Options?, payloadBytes: Int,
        overdraft: Bool, loadBatchSize: Int = 1_000, clock: any EngineClock = SystemClock.shared
    ) {
        self.regions = regions
        self.dataDirectory = dataDirectory
        self.durability = durability
        self.isolation = isolation
        self.runtime = runtime
        self.pool = pool
        self.batch = batch
        self.payloadBytes = payloadBytes
        self.overdraft = overdraft
        self.loadBatchSize = loadBatchSize
        self.clock = clock
    }
}

/// A configuration the engine cannot run yet, with what is missing.
public struct UnsupportedConfiguration: Error, Sendable, CustomStringConvertible {
    /// What is not supported and why.
    public var description: String

    /// Creates the error.
    public init(_ description: String) { self.description = description }
}
