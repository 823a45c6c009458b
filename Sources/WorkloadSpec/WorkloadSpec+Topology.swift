extension WorkloadSpec {
    /// The engine a spec drives (DESIGN.md, "The three layers").
    public enum Backend: String, Sendable, Equatable, CaseIterable {
        /// Every region, replica and coordinator in one process.
        case embedded
        /// PostgreSQL servers as L0, postgres-nio's pool as L1.
        case postgres
    }

    /// A region and the number of replicas of its Raft group.
    public struct Region: Sendable, Equatable, Hashable {
        /// The region's name, `[a-z0-9_-]+`, unique in the spec.
        public var name: String
        /// Replicas of the region's Raft group, `1...7`.
        public var replicas: Int
        /// The region's PostgreSQL primary, when the spec names one (`dsn:`, backend postgres);
        /// nil: `layerbench run` starts local servers itself.
        public var dsn: PostgresDSN?

        /// A region with `replicas` replicas.
        public init(name: String, replicas: Int = 1, dsn: PostgresDSN? = nil) {
            self.name = name
            self.replicas = replicas
            self.dsn = dsn
        }
    }

    /// An unordered pair of distinct regions: the key of the symmetric RTT matrix.
    public struct RegionPair: Sendable, Equatable, Hashable {
        /// The name that sorts first.
        public let first: String
        /// The name that sorts second.
        public let second: String

        /// The pair of `a` and `b`, in either order.
        public init(_ a: String, _ b: String) {
            (first, second) = a <= b ? (a, b) : (b, a)
        }
    }

    /// The simulated network: round-trip times within and between regions.
    public struct Network: Sendable, Equatable {
        /// The RTT between two nodes of one region.
        public var intraRegionRTT: Duration
        /// The maximum random delay added to each message (uniform in `0...jitter`).
        public var jitter: Duration
        /// The RTT of every pair of distinct regions. When a spec declares more than one
        /// region, every pair is present (the decoder requires it).
        public var rtt: [RegionPair: Duration]

        /// A network with the given RTTs (all zero by default).
        public init(
            intraRegionRTT: Duration = .zero,
            jitter: Duration = .zero,
            rtt: [RegionPair: Duration] = [:]
        ) {
            self.intraRegionRTT = intraRegionRTT
            self.jitter = jitter
            self.rtt = rtt
        }

        /// The RTT between a node of region `a` and one of region `b`; the intra-region RTT
        /// when they are the same region, zero for a pair the matrix lacks.
        public func rtt(between a: String, and b: String) -> Duration {
            a == b ? intraRegionRTT : rtt[RegionPair(a, b)] ?? .zero
        }
    }
}
