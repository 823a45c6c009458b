import WorkloadSpec

/// What `cluster up` starts: one PostgreSQL primary per region, each with `replicas - 1`
/// streaming standbys, synchronous or asynchronous.
public struct ClusterTopology: Sendable, Equatable {
    /// One region's servers.
    public struct Region: Sendable, Equatable {
        /// The region's name (`[a-z0-9_-]+`, as the spec allows).
        public var name: String
        /// The primary plus its standbys, `>= 1`.
        public var replicas: Int

        /// A region with `replicas` servers in all.
        public init(name: String, replicas: Int) {
            self.name = name
            self.replicas = replicas
        }

        /// The standbys that must confirm a commit when replication is synchronous: a majority
        /// of the region's replicas counting the primary, `replicas / 2` (0 without standbys).
        public var synchronousStandbys: Int { replicas > 1 ? replicas / 2 : 0 }
    }

    /// The regions, in the spec's order.
    public var regions: [Region]
    /// Whether standbys replicate asynchronously (no `synchronous_standby_names`).
    public var asyncReplication: Bool

    /// A topology given directly.
    public init(regions: [Region], asyncReplication: Bool) {
        self.regions = regions
        self.asyncReplication = asyncReplication
    }

    /// The topology of a spec. When the spec's `optimisations.async_replication` is a matrix
    /// (`[false, true]`), `asyncReplication` must say which variant to start.
    ///
    /// - Throws: ``ClusterError`` when the switch is a matrix and `asyncReplication` is nil, or
    ///   names a value the spec does not list.
    public init(spec: WorkloadSpec, asyncReplication: Bool? = nil) throws(ClusterError) {
        let values = spec.optimisations.asyncReplication
        let chosen: Bool
        if let asyncReplication {
            guard values.contains(asyncReplication) else {
                throw ClusterError(
                    .invalidTopology,
                    "spec '\(spec.name)' sets optimisations.async_replication to \(values), "
                        + "not \(asyncReplication)")
            }
            chosen = asyncReplication
        } else if values.count == 1, let only = values.first {
            chosen = only
        } else {
            throw ClusterError(
                .invalidTopology,
                "spec '\(spec.name)' sets optimisations.async_replication to the matrix \(values): "
                    + "say which servers to start (--async-replication false or true)")
        }
        self.init(
            regions: spec.regions.map { Region(name: $0.name, replicas: $0.replicas) }, asyncReplication: chosen)
    }
}
