import Engine
import PostgresNIO
import Storage
import Synchronization
import WANProxy
import WorkloadSpec

/// The connections an L2 coordinator in one region uses to reach each region's primary: direct on
/// loopback within its own region (or when the spec's round trip between the two is zero), and
/// through a ``WANProxy`` that delays each direction by half the spec's round trip otherwise. One
/// proxy per ordered pair (coordinator region, participant region), one pool per pair; every pool
/// sets `lock_timeout` (a participant waiting for a row another region's prepared transaction
/// holds may be in a deadlock across servers that no single server sees: the timeout breaks it,
/// with 55P03, and the coordinator retries).
final class PostgresWANRoutes: Sendable {
    /// `clients[coordinator][participant]`.
    let clients: [[PostgresClient]]
    /// The round trip the proxy of each pair adds, in nanoseconds (0 for a direct pool).
    let roundTripNanos: [[UInt64]]
    /// The proxies, to stop them and read their counters.
    let proxies: [WANProxy]
    private let runTasks: Mutex<[Task<Void, Never>]>

    private init(
        clients: [[PostgresClient]], roundTripNanos: [[UInt64]], proxies: [WANProxy], runTasks: [Task<Void, Never>]
    ) {
        self.clients = clients
        self.roundTripNanos = roundTripNanos
        self.proxies = proxies
        self.runTasks = Mutex(runTasks)
    }

    /// Starts the proxies for `network`'s round trips in front of `primaries` and opens a pool of
    /// `poolSize` connections (lazily) per pair, each with `lock_timeout = lockTimeout`.
    static func start(
        primaries: [PostgresDSN], network: EngineConfiguration.Network, poolSize: Int, lockTimeout: Duration,
        synchronousCommitOff: Bool, logger: Logger
    ) async throws -> PostgresWANRoutes {
        var proxies: [WANProxy] = []
        var clients: [[PostgresClient]] = []
        var roundTrips: [[UInt64]] = []
        let timeoutMillis = max(1, lockTimeout.clampedNanoseconds / 1_000_000)
        do {
            for coordinator in primaries.indices {
                var row: [PostgresClient] = []
                var trips: [UInt64] = []
                for (participant, primary) in primaries.enumerated() {
                    var dsn = primary
                    let rtt = coordinator == participant ? Duration.zero : network.rtt(coordinator, participant)
                    var tripNanos: UInt64 = 0
                    if rtt > .zero {
                        let proxy = try await WANProxy.start(
                            WANProxy.Configuration(
                                upstreamHost: primary.host, upstreamPort: primary.port, oneWayDelay: rtt / 2,
                                jitter: network.jitter / 2, seed: UInt64(coordinator * 64 + participant)))
                        proxies.append(proxy)
                        dsn.host = "127.0.0.1"
                        dsn.port = proxy.port
                        tripNanos = rtt.clampedNanoseconds
                    }
                    var configuration = PostgresBackend.clientConfiguration(dsn)
                    configuration.options.maximumConnections = poolSize
                    configuration.options.minimumConnections = 0
                    var parameters = [("lock_timeout", "\(timeoutMillis)ms")]
                    if synchronousCommitOff { parameters.append(("synchronous_commit", "off")) }
                    configuration.options.additionalStartupParameters = parameters
                    row.append(PostgresClient(configuration: configuration, backgroundLogger: logger))
                    trips.append(tripNanos)
                }
                clients.append(row)
                roundTrips.append(trips)
            }
        } catch {
            for proxy in proxies { try? await proxy.stop() }
            throw error
        }
        let tasks = clients.flatMap { $0 }.map { client in Task { await client.run() } }
        return PostgresWANRoutes(clients: clients, roundTripNanos: roundTrips, proxies: proxies, runTasks: tasks)
    }

    /// Closes the pools (idempotent); the proxies keep listening.
    func closePools() async {
        let tasks = runTasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Closes the pools and stops the proxies.
    func stop() async {
        await closePools()
        for proxy in proxies { try? await proxy.stop() }
    }

    /// The proxies' counters summed: connections, bytes both ways, and the delay they added.
    var proxyTotals: (connections: UInt64, bytes: UInt64, delayNanos: UInt64) {
        var total: (connections: UInt64, bytes: UInt64, delayNanos: UInt64) = (0, 0, 0)
        for proxy in proxies {
            let counters = proxy.counters
            total.connections &+= counters.connectionsAccepted
            total.bytes &+= counters.bytesClientToUpstream &+ counters.bytesUpstreamToClient
            total.delayNanos &+= counters.delayNanosClientToUpstream &+ counters.delayNanosUpstreamToClient
        }
        return total
    }
}
