import Foundation
import PostgresCluster
import WorkloadSpec

/// Where a spec's PostgreSQL servers are: the DSNs the spec gives (servers elsewhere, which
/// LayerBench neither starts nor restarts), or a local cluster `PostgresCluster` started for the
/// run (one primary per region on loopback, with its standbys), which the audit restarts.
public struct PostgresDeployment: Sendable {
    /// One region's servers.
    public struct Region: Sendable, Equatable {
        /// The region's name, as the spec declares it.
        public var name: String
        /// Its primary, which serves the transfers.
        public var primary: PostgresDSN
        /// Its standbys, when known (a local cluster's); the primary's `pg_stat_replication`
        /// names every standby either way.
        public var standbys: [PostgresDSN]

        /// Creates a region.
        public init(name: String, primary: PostgresDSN, standbys: [PostgresDSN] = []) {
            self.name = name
            self.primary = primary
            self.standbys = standbys
        }
    }

    /// The regions, in the spec's order.
    public var regions: [Region]
    /// The local cluster, when LayerBench started the servers (nil for servers given by DSN).
    public var cluster: PostgresCluster?

    /// Servers given directly.
    public init(regions: [Region], cluster: PostgresCluster? = nil) {
        self.regions = regions
        self.cluster = cluster
    }

    /// The servers a spec names by `dsn:`, nil when it names none (then ``start(spec:asyncReplication:directory:)``).
    public static func given(by spec: WorkloadSpec) -> PostgresDeployment? {
        let regions = spec.regions.compactMap { region in
            region.dsn.map { Region(name: region.name, primary: $0) }
        }
        guard !regions.isEmpty else { return nil }
        return PostgresDeployment(regions: regions)
    }

    /// The regions of a running local cluster.
    public static func regions(of state: ClusterState) -> [Region] {
        var regions: [Region] = []
        for server in state.servers {
            let dsn = PostgresDSN(host: "127.0.0.1", port: server.port, user: PostgresCluster.superuser)
            if server.isPrimary {
                regions.append(Region(name: server.region, primary: dsn))
            } else if server.role == PostgresCluster.failedRole {
                continue
            } else if let index = regions.firstIndex(where: { $0.name == server.region }) {
                regions[index].standbys.append(dsn)
            }
        }
        return regions
    }

    /// Starts the spec's local cluster in `directory` (one primary per region, replicas - 1
    /// standbys, sync or async per `asyncReplication`) and returns its deployment.
    ///
    /// - Throws: `ClusterError` naming the server, its log file and last lines when one fails.
    public static func start(
        spec: WorkloadSpec, asyncReplication: Bool?, directory: String,
        options: PostgresCluster.Options = PostgresCluster.Options()
    ) async throws(ClusterError) -> PostgresDeployment {
        let cluster = PostgresCluster(directory: directory, options: options)
        let state = try await cluster.up(
            ClusterTopology(spec: spec, asyncReplication: asyncReplication), name: spec.name)
        return PostgresDeployment(regions: regions(of: state), cluster: cluster)
    }

    /// Stops a local cluster (and removes its directory); nothing for servers given by DSN.
    public func stop() async throws(ClusterError) {
        guard let cluster else { return }
        try await cluster.down()
    }
}
