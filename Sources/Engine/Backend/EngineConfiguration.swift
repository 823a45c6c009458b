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

    /// When a replicated commit is acknowledged (DESIGN.md, "Replication").
    public enum Replication: String, Sendable, Hashable, CaseIterable {
        /// Once a quorum of the region's replicas has persisted it (the leader's fsync in parallel
        /// with the followers').
        case sync
        /// Once the leader has persisted it; followers catch up in the background, so a failover
        /// can lose acknowledged commits (the audit counts them).
        case async
    }

    /// The simulated network between nodes: every message is delayed by half the round trip of
    /// its two regions, plus uniform jitter.
    public struct Network: Sendable, Hashable {
        /// The round trip between two nodes of one region.
        public var intraRegionRTT: Duration
        /// The maximum random delay added to each message.
        public var jitter: Duration
        /// The round trip between regions `i` and `j` (indices into `regions`), symmetric, with a
        /// zero diagonal; empty means every pair is zero.
        public var interRegionRTT: [[Duration]]

        /// Creates a network; all zero by default.
        public init(intraRegionRTT: Duration = .zero, jitter: Duration = .zero, interRegionRTT: [[Duration]] = []) {
            self.intraRegionRTT = intraRegionRTT
            self.jitter = jitter
            self.interRegionRTT = interRegionRTT
        }

        /// The round trip between a node of region `a` and one of region `b` (indices).
        public func rtt(_ a: Int, _ b: Int) -> Duration {
            if a == b { return intraRegionRTT }
            guard a < interRegionRTT.count, b < interRegionRTT[a].count else { return .zero }
            return interRegionRTT[a][b]
        }
    }

    /// Where transactions get their timestamps (DESIGN.md, "Timestamps").
    public enum Timestamps: String, Sendable, Hashable, CaseIterable {
        /// Each coordinator's (and leader's) hybrid logical clock.
        case hlc
        /// The timestamp oracle in the home region (the first region).
        case tso
    }

    /// The regions.
    public var regions: [Region]
    /// The locality optimisation (DESIGN.md, "Optimisations"): on, single-region transfers commit
    /// in one phase at their home leader and multi-region ones are coordinated from the client's
    /// region; off, every transfer goes through the global coordinator in the home region, with
    /// two-phase commit even within one region.
    public var locality: Bool = true
    /// The timestamp source.
    public var timestamps: Timestamps = .hlc
    /// The network between nodes (used when a region has more than one replica, or there is more
    /// than one region).
    public var network: Network
    /// Sync or async replication inside each region.
    public var replication: Replication
    /// The seed of the network's jitter and loss and of the Raft election timeouts.
    public var seed: UInt64
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
        regions: [Region], network: Network = Network(), replication: Replication = .sync, seed: UInt64 = 1,
        dataDirectory: String, durability: Durability, isolation: IsolationLevel,
        runtime: RuntimeOptions, pool: PoolOptions, batch: BatchCommitter<Void>.Options?, payloadBytes: Int,
        overdraft: Bool, loadBatchSize: Int = 1_000, clock: any EngineClock = SystemClock.shared
    ) {
        self.regions = regions
        self.network = network
        self.replication = replication
        self.seed = seed
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
