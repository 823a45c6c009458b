import Distributed
import Engine
import Foundation
import PostgresCluster
import PostgresNIO
import Runtime
import Storage
import Synchronization
import WorkloadSpec

/// The `Backend` over real PostgreSQL servers: one primary per region (L0), postgres-nio's
/// connection pool and this type's retry loop (L1). Single-region transfers run as one local
/// transaction at the spec's isolation with prepared statements, in three round trips: BEGIN;
/// `SELECT lb_participate(...)`, a server function (created by the load) that locks the accounts
/// in key order (SELECT ... FOR UPDATE), checks the funds, runs one UPDATE per leg and the ledger
/// INSERT and returns the row's `xmin`; COMMIT (a statement per round trip took five or more, and
/// the round trips, not the server's work, bounded throughput). COMMIT stays its own statement so
/// that the acknowledgement follows the commit's response (a single statement in autocommit
/// would be answered with CommandComplete before its commit). 40001 and 40P01 are retried by the runtime's `RetryPolicy` (exponential backoff with
/// full jitter); other SQLSTATEs end the transfer and are reported.
///
/// Per-layer latency (DESIGN.md "Per-layer latency"; L2 + L1 + L0 = end-to-end for every
/// transfer): L0 is the sum of the statement round trips of the transfer's attempts (three per
/// attempt on the single-region path: BEGIN, the function, COMMIT), measured
/// on the client from sending a statement to its last response message, which includes the
/// loopback transit and postgres-nio's encoding and decoding (``roundTripFloorNanos`` measures
/// that floor per statement: the error of the method); L1 is the rest (pool wait, client-side
/// work between statements, retry backoff); L2 is 0 (no coordinator on this path).
///
/// Cross-region and global transfers run as two-phase commits across the regions' primaries,
/// driven by an L2 coordinator in this process (`PostgresBackend+TwoPhase.swift`), with in-doubt
/// resolution from the coordinators' decision logs (`PostgresBackend+InDoubt.swift`).
public final class PostgresBackend: Backend {
    /// `postgres`.
    public let name = "postgres"

    /// How one attempt of a transfer ended.
    enum AttemptOutcome: Sendable, Equatable {
        case committed(xmin: Int64)
        case rejected
        case invalid
        case failed(String)
    }

    /// What the last audit found beyond ``AuditReport``: the restart, the standbys, prepared
    /// transactions, and the recorded mapping ledger `ts` -> `xmin`.
    public struct AuditDetail: Sendable, Hashable {
        /// Whether every server had a fast shutdown and restart before the audit (false for
        /// servers given by DSN, which LayerBench does not manage).
        public var restarted: Bool
        /// Per region: whether every standby's replay LSN reached the primary's current LSN
        /// before the audit (true with no standby).
        public var standbysCaughtUp: [String: Bool]
        /// Standbys seen in `pg_stat_replication`, per region.
        public var standbys: [String: Int]
        /// Prepared transactions left behind (`pg_prepared_xacts`), summed over the primaries.
        public var preparedLeft: Int
        /// Ledger rows read, each a recorded pair `ts -> xmin` (PostgreSQL assigns its own xids;
        /// the pair is recorded, not an identity).
        public var tsXminPairs: Int
        /// Pairs of consecutive rows (by `ts`) of one primary whose `xmin` goes backwards, summed
        /// over the primaries (each numbers its own xids): how far PostgreSQL's xid order departs
        /// from the timestamp order (xids are assigned at the first write; a single-region
        /// transfer's timestamp is taken before its attempts, a cross-region one's per attempt
        /// from L2's clock).
        public var tsXminInversions: Int
        /// A few pairs `(ts, xmin)`, lowest `ts` first, for the report.
        public var sample: [Pair]
        /// Prepared transactions the audit's in-doubt resolution committed (their coordinator
        /// had decided commit before it stopped).
        public var inDoubtCommitted: Int = 0
        /// Prepared transactions it rolled back (decided abort, or no decision: presumed abort).
        public var inDoubtAborted: Int = 0
        /// Regions failed over before the audit (``PostgresBackend/failover(region:)``): region ->
        /// the promoted server, which the audit read as the region's primary.
        public var failovers: [String: String] = [:]
        /// Acknowledged transfers missing from the promoted servers under async replication: the
        /// price of async replication, counted in ``AuditReport/acknowledgedLostInFailover`` too,
        /// never hidden (0 under sync replication, where any loss is a durability failure).
        public var lostInFailover: Int = 0

        /// One recorded pair.
        public struct Pair: Sendable, Hashable {
            /// The ledger row's timestamp.
            public var ts: Int64
            /// The `xmin` PostgreSQL gave the row.
            public var xmin: Int64
        }
    }

    let configuration: EngineConfiguration
    /// The servers; a failover replaces a region's primary.
    private let deploymentState: Mutex<PostgresDeployment>
    /// Regions failed over (region -> the promoted server's name), and whether the cluster's
    /// standbys replicated asynchronously (its state says).
    let failedOver = Mutex<(servers: [String: String], asyncReplication: Bool)>(([:], false))
    private let placement: Mutex<AccountPlacement?>
    /// One pool per region's primary; a failover replaces the region's, and while it runs the
    /// region has none (nil: its transfers fail at once, 08006, rather than wait on a dead server).
    private let clients: Mutex<[PostgresClient?]>
    /// Every pool's `run()` task, the pools a failover retired included (closed at shutdown).
    private let runTasks: Mutex<[(pool: PostgresClient, task: Task<Void, Never>)]>
    let nodeCounters: [PostgresNodeCounters]
    let nodes: [NodeID]
    let clock: any EngineClock
    let logger: Logger
    private let sequence = Atomic<UInt64>(0)
    private let loadStatistics = Mutex<(rows: Int, nanos: UInt64, floorNanos: UInt64)>((0, 0, 0))
    private let lastAuditDetail = Mutex<AuditDetail?>(nil)
    /// Each region's L2 coordinator: its hybrid logical clock and counters.
    let hlcs: [HybridLogicalClock]
    let twoPhaseCounters: [TwoPhaseCounters]
    /// The coordinators' routes to every primary (set by the load).
    let wanRoutes = Mutex<PostgresWANRoutes?>(nil)
    let crashHook = Mutex<CoordinatorCrashHook?>(nil)
    /// The home region's timestamp oracle (`timestamps: tso`; set by the load).
    let timestampOracle = Mutex<PostgresTimestampOracle?>(nil)
    let phaseTwo = PhaseTwoTracker()

    /// Connects to the deployment's primaries (one pool of `configuration.pool.maxSize`
    /// connections per region, opened lazily).
    ///
    /// - Throws: `UnsupportedConfiguration` when the deployment's regions are not the
    ///   configuration's.
    public init(configuration: EngineConfiguration, deployment: PostgresDeployment) throws {
        let names = configuration.regions.map(\.name)
        guard deployment.regions.map(\.name) == names else {
            throw UnsupportedConfiguration(
                "the PostgreSQL servers serve regions \(deployment.regions.map(\.name)), the spec declares \(names)")
        }
        guard configuration.batch == nil else {
            throw UnsupportedConfiguration(
                "batch commit is not built for the postgres backend (one transfer per transaction); "
                    + "set optimisations.batch_commit: false")
        }
        self.configuration = configuration
        deploymentState = Mutex(deployment)
        placement = Mutex(nil)
        clock = configuration.clock
        let logger = Self.quietLogger
        self.logger = logger
        nodes = deployment.regions.map { NodeID(region: $0.name, replica: 0) }
        nodeCounters = deployment.regions.map { _ in PostgresNodeCounters() }
        hlcs = deployment.regions.map { _ in HybridLogicalClock(clock: configuration.clock) }
        twoPhaseCounters = deployment.regions.map { _ in TwoPhaseCounters() }
        let clients = deployment.regions.map { Self.pool($0.primary, configuration: configuration, logger: logger) }
        self.clients = Mutex(clients.map { Optional($0) })
        runTasks = Mutex(clients.map { client in (client, Task { await client.run() }) })
    }

    /// The pool of transfers on one primary: `configuration.pool.maxSize` connections, opened lazily.
    static func pool(_ primary: PostgresDSN, configuration: EngineConfiguration, logger: Logger) -> PostgresClient {
        let poolSize = max(1, configuration.pool.maxSize)
        var client = clientConfiguration(primary)
        client.options.maximumConnections = poolSize
        client.options.minimumConnections = min(max(0, configuration.pool.minIdle), poolSize - 1)
        if configuration.durability == .none {
            client.options.additionalStartupParameters = [("synchronous_commit", "off")]
        }
        return PostgresClient(configuration: client, backgroundLogger: logger)
    }

    /// The servers (a failover has replaced the primary of a region it failed over).
    var deployment: PostgresDeployment { deploymentState.withLock { $0 } }

    static func clientConfiguration(_ dsn: PostgresDSN) -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: dsn.host, port: dsn.port, username: dsn.user, password: dsn.password, database: dsn.database,
            tls: .disable)
    }

    static func connectionConfiguration(_ dsn: PostgresDSN) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: dsn.host, port: dsn.port, username: dsn.user, password: dsn.password, database: dsn.database,
            tls: .disable)
    }

    /// One connection outside the pool (load, audit), closed after `body`.
    func withConnection<T: Sendable>(
        _ dsn: PostgresDSN, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await Self.withConnection(to: dsn, logger: logger, body)
    }

    /// One connection to `dsn` outside any pool (no TLS), closed after `body` returns or throws:
    /// for the load, the audit, tools and tests. Logs through `logger` (nothing by default).
    @discardableResult
    public static func withConnection<T: Sendable>(
        to dsn: PostgresDSN, logger: Logger = PostgresBackend.quietLogger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await PostgresConnection.connect(
            configuration: connectionConfiguration(dsn), id: 1, logger: logger)
        do {
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A logger that prints only critical messages.
    public static let quietLogger: Logger = {
        var logger = Logger(label: "layerbench.postgres")
        logger.logLevel = .critical
        return logger
    }()

    var deploymentRegions: [PostgresDeployment.Region] { deployment.regions }

    /// The accounts' placement over the regions (set by `load`).
    func accountPlacement(accounts: Int) -> AccountPlacement {
        placement.withLock { current in
            if let current, current.accounts == accounts { return current }
            let made = AccountPlacement(accounts: max(1, accounts), regions: deployment.regions.count)
            current = made
            return made
        }
    }

    func setPlacement(_ value: AccountPlacement) { placement.withLock { $0 = value } }

    var currentPlacement: AccountPlacement? { placement.withLock { $0 } }

    /// The details of the last audit (nil before one).
    public var lastAudit: AuditDetail? { lastAuditDetail.withLock { $0 } }

    func recordAudit(_ detail: AuditDetail) { lastAuditDetail.withLock { $0 = detail } }

    func recordLoad(rows: Int, nanos: UInt64, floorNanos: UInt64) {
        loadStatistics.withLock { $0 = (rows, nanos, floorNanos) }
    }

    /// The smallest round trip of a trivial prepared statement measured after the load: the
    /// share of every statement's L0 time that is loopback transit and client-side protocol
    /// work rather than server time (the method's error, per statement).
    public var roundTripFloorNanos: UInt64 { loadStatistics.withLock { $0.floorNanos } }

    // MARK: - Transfers

    public func transfer(_ request: TransferRequest) async -> TransferResult {
        let start = clock.nowNanos()
        do { try Transfer.validate(request) } catch {
            return TransferResult(
                .failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: clock.nanosSince(start), xid: 0)
        }
        guard let placement = currentPlacement else {
            return TransferResult(
                .failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: clock.nanosSince(start), xid: 0)
        }
        let legs = request.legs.inKeyOrder()
        let region = placement.region(of: legs[0].account)
        guard legs.allSatisfy({ placement.region(of: $0.account) == region }) else {
            return await coordinateTwoPhase(request, legs: legs, placement: placement, start: start)
        }
        let counters = nodeCounters[region]
        let policy = configuration.runtime.retry
        var random = SplitMix64(seed: request.id)
        var retried: [String] = []
        var l0: UInt64 = 0
        var attempt = 0
        let ts = timestamp()
        while true {
            attempt += 1
            let outcome = await attemptTransfer(request, legs: legs, region: region, ts: ts, l0: &l0)
            counters.attemptEnded(outcome)
            switch outcome {
            case .committed(let xmin):
                return TransferResult(
                    .committed, retried: retried, endToEndNanos: clock.nanosSince(start), l0Nanos: l0,
                    xid: TransactionID(UInt64(bitPattern: xmin)))
            case .rejected:
                return TransferResult(
                    .rejected, retried: retried, endToEndNanos: clock.nanosSince(start), l0Nanos: l0, xid: 0)
            case .invalid:
                return TransferResult(
                    .failed(sqlState: Transfer.InvalidRequest.sqlState), retried: retried,
                    endToEndNanos: clock.nanosSince(start), l0Nanos: l0, xid: 0)
            case .failed(let code):
                let retryable = TransactionError.Code(rawValue: code)?.isRetryable == true
                let elapsed = Duration.nanoseconds(Int64(clamping: clock.nanosSince(start)))
                guard retryable, attempt < policy.maxAttempts, elapsed < policy.maxTotal else {
                    if retryable { counters.exhausted() }
                    return TransferResult(
                        .failed(sqlState: code), retried: retried, endToEndNanos: clock.nanosSince(start),
                        l0Nanos: l0, xid: 0)
                }
                retried.append(code)
                let backoff = policy.backoff(beforeRetry: attempt, using: &random)
                let sleepStart = clock.nowNanos()
                if backoff > .zero { try? await clock.sleep(for: backoff) }
                counters.retried(code, backoffNanos: clock.nanosSince(sleepStart))
            }
        }
    }

    /// A ledger timestamp in the L2 format, `physical_ms << 18 | logical`: the wall clock's
    /// milliseconds and a per-backend sequence (no L2 timestamp exists on the single-region path;
    /// L2's HLC or TSO stamps it when the coordinator drives the transfer).
    private func timestamp() -> Int64 {
        let logical = sequence.add(1, ordering: .relaxed).newValue & ((1 << 18) - 1)
        return Int64(bitPattern: ((clock.wallNanos() / 1_000_000) << 18) | logical)
    }

    /// One attempt on a pooled connection of `region`'s primary; `l0` accumulates its statement
    /// round trips.
    private func attemptTransfer(
        _ request: TransferRequest, legs: TransferLegs, region: Int, ts: Int64, l0: inout UInt64
    ) async -> AttemptOutcome {
        let counters = nodeCounters[region]
        guard let client = clients.withLock({ $0[region] }) else {
            // The region is failing over: no primary to send to (not acknowledged).
            return .failed(Self.connectionFailure)
        }
        let clock = self.clock
        let logger = self.logger
        let isolation = configuration.isolation
        let overdraft = configuration.overdraft
        let poolSize = max(1, configuration.pool.maxSize)
        let requested = clock.nowNanos()
        _ = counters.acquiring(poolSize: poolSize)
        var statementNanos: UInt64 = 0
        var statements = 0
        let outcome: AttemptOutcome
        do {
            (outcome, statementNanos, statements) = try await client.withOpenConnection {
                connection -> (AttemptOutcome, UInt64, Int) in
                counters.leased(waitNanos: clock.nanosSince(requested))
                defer { counters.released() }
                // The attempt runs on the connection's event loop (an actor on its executor): each
                // statement's response resumes it on the thread that read it, with no hop to the
                // cooperative pool and back per statement.
                return await EventLoopBound(connection.eventLoop).run { _ in
                    // Locks in key order, the funds check, one UPDATE per leg and the ledger
                    // INSERT, in one round trip (`lb_participate`), then COMMIT.
                    let work = PostgresStatements.Participate(
                        ids: legs.map { Int64(bitPattern: $0.account) }, amounts: legs.map(\.amount),
                        overdraft: overdraft, ledger: Self.ledgerRow(request, ts: ts))
                    let attempt = await Self.participate(
                        work, isolation: isolation, on: connection, clock: clock, logger: logger
                    ) { connection in
                        _ = try await connection.execute(PostgresStatements.Commit(), logger: logger)
                    }
                    let outcome: AttemptOutcome
                    switch attempt.answer {
                    case .success(let xmin) where xmin >= 0: outcome = .committed(xmin: xmin)
                    case .success(let xmin): outcome = xmin == -1 ? .rejected : .invalid
                    case .failure(let error): outcome = .failed(Self.sqlState(of: error))
                    }
                    return (outcome, attempt.nanos, attempt.count)
                }
            }
        } catch {
            // The lease itself failed (no server, the pool shut down).
            outcome = .failed(Self.sqlState(of: error))
        }
        counters.statements(statements, nanos: statementNanos)
        l0 &+= statementNanos
        return outcome
    }

    /// The ledger INSERT of a request: debit and credit of a two-leg transfer in `from_id` and
    /// `to_id`; for other leg counts, the first debit and first credit there and every leg in
    /// `legs` (the embedded ledger's encoding).
    static func ledgerRow(_ request: TransferRequest, ts: Int64) -> PostgresStatements.InsertLedger {
        let debit = request.legs.first(where: \.isDebit)?.account ?? 0
        let credit = request.legs.first(where: { !$0.isDebit })?.account ?? 0
        var legs: ByteBuffer?
        if request.legs.count != 2 {
            legs = ByteBuffer(bytes: Transfer.ledgerPayload(legs: request.legs, padding: 0))
        }
        return PostgresStatements.InsertLedger(
            id: Int64(bitPattern: request.id), from: Int64(bitPattern: debit), to: Int64(bitPattern: credit),
            amount: request.amount, ts: ts, legs: legs)
    }

    /// 08006, connection failure.
    static let connectionFailure = "08006"

    /// Whether `error` says the connection failed or closed (no further statement may be sent
    /// on it; see ``ConnectionClosed``).
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is ConnectionClosed { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return true
        default: return false
        }
    }

    /// The SQLSTATE of an error from postgres-nio: the server's, 08006 (connection failure) for
    /// a connection that failed or closed or a pool shut down (a failover retired it), 57014 for a cancelled wait, XX000 otherwise.
    static func sqlState(of error: any Error) -> String {
        if isConnectionFailure(error) { return connectionFailure }
        if let error = error as? PSQLError {
            if error.code == .server, let state = error.serverInfo?[.sqlState] { return state }
            if error.code == .queryCancelled { return "57014" }
            return TransactionError.Code.internalError.rawValue
        }
        if error is CancellationError { return TransactionError.Code.queryCanceled.rawValue }
        return "08006"
    }

    // MARK: - Counters

    public func counters() -> BackendCounters {
        var nodes: [NodeID: [String: Double]] = [:]
        for (index, (node, counters)) in zip(self.nodes, nodeCounters).enumerated() {
            nodes[node] = counters.named().merging(twoPhaseCounters[index].named()) { first, _ in first }
        }
        return BackendCounters(nodes: nodes)
    }

    public func gauges() -> [String: Double] {
        let load = loadStatistics.withLock { $0 }
        let highWater = nodeCounters.map { $0.values.leasedHighWater }.max() ?? 0
        let proxies = wanRoutes.withLock { $0 }?.proxyTotals ?? (connections: 0, bytes: 0, delayNanos: 0)
        return [
            "wan_proxy_connections": Double(proxies.connections),
            "wan_proxy_bytes": Double(proxies.bytes),
            "wan_proxy_delay_ms": Double(proxies.delayNanos) / 1e6,
            "pool_size_max": Double(configuration.pool.maxSize),
            "pool_high_water": Double(highWater),
            "load_rows": Double(load.rows),
            "load_seconds": Double(load.nanos) / 1e9,
            "load_rows_per_second": load.nanos > 0 ? Double(load.rows) / (Double(load.nanos) / 1e9) : 0,
            "l0_round_trip_floor_us": Double(load.floorNanos) / 1e3,
        ]
    }

    // MARK: - Failover

    /// Fails over `region` as an operator would after its primary crashed: the local cluster
    /// crashes the primary (`pg_ctl stop -m immediate`) and promotes its most advanced standby
    /// (``PostgresCluster/failover(region:)``); the region's pool is replaced by one on the
    /// promoted server (transfers in flight on the old one fail with their connection, 08006,
    /// and are not acknowledged), and the coordinators' routes, when started, are restarted
    /// towards it. The next ``audit(_:)`` reads the promoted server and counts, under async
    /// replication, the acknowledged transfers it lacks (``AuditDetail/lostInFailover``).
    /// Returns the promoted server.
    ///
    /// - Throws: `UnsupportedConfiguration` for servers given by DSN (LayerBench does not manage
    ///   them) or an unknown region; `ClusterError` when the crash or the promotion fails.
    public func failover(region: String) async throws -> ClusterState.Server {
        guard let cluster = deployment.cluster else {
            throw UnsupportedConfiguration(
                "failover needs a local cluster started by LayerBench; the servers given by DSN are not managed")
        }
        guard let index = deployment.regions.firstIndex(where: { $0.name == region }) else {
            throw UnsupportedConfiguration("no region '\(region)' in \(deployment.regions.map(\.name))")
        }
        // The region is fenced first: from here until the promoted server's pool is in place, its
        // transfers fail at once (08006) instead of queueing on a pool whose server is gone.
        // Those in flight on the old pool get their connection's error when the primary dies.
        let old = clients.withLock { clients in
            defer { clients[index] = nil }
            return clients[index]
        }
        let state: ClusterState
        do {
            state = try await cluster.failover(region: region)
        } catch {
            clients.withLock { $0[index] = old }
            throw error
        }
        guard let promoted = state.servers.first(where: { $0.region == region && $0.isPrimary }),
            let replacement = PostgresDeployment.regions(of: state).first(where: { $0.name == region })
        else {
            throw UnsupportedConfiguration("the failover of '\(region)' left no primary in \(cluster.directory)")
        }
        deploymentState.withLock { $0.regions[index] = replacement }
        failedOver.withLock {
            $0.servers[region] = promoted.name
            $0.asyncReplication = state.asyncReplication
        }
        let pool = Self.pool(replacement.primary, configuration: configuration, logger: logger)
        let task = Task { await pool.run() }
        clients.withLock { $0[index] = pool }
        // The old pool is shut down now that its server is gone: a transfer that took it before
        // the fence and still waits for a lease would otherwise wait for ever (the pool retries
        // its connection to the dead server without end); it fails with the pool (08006), not
        // acknowledged. A transfer on one of its connections got that connection's error.
        let retired = runTasks.withLock { tasks in
            tasks.append((pool, task))
            return tasks.first(where: { old != nil && $0.pool === old })?.task
        }
        retired?.cancel()
        if let routes = wanRoutes.withLock({ current -> PostgresWANRoutes? in
            defer { current = nil }
            return current
        }) {
            await routes.stop()
            try await startWANRoutes()
        }
        return promoted
    }

    // MARK: - Shutdown

    /// Starts the coordinators' routes (WAN proxies and pools) once.
    func startWANRoutes() async throws {
        guard wanRoutes.withLock({ $0 }) == nil else { return }
        let routes = try await PostgresWANRoutes.start(
            primaries: deployment.regions.map(\.primary), network: configuration.network,
            poolSize: max(1, configuration.pool.maxSize), lockTimeout: participantLockTimeout,
            synchronousCommitOff: configuration.durability == .none, logger: logger)
        let previous = wanRoutes.withLock { current -> PostgresWANRoutes? in
            defer { if current == nil { current = routes } }
            return current
        }
        if previous != nil { await routes.stop() }
    }

    /// The `lock_timeout` of a two-phase participant: a wait for a row another transfer's
    /// prepared transaction holds ends after its decision and phase two (a few round trips); a
    /// wait in a deadlock across servers, which no server detects, ends here (55P03, retried).
    /// 200 ms plus four of the largest round trip between regions.
    var participantLockTimeout: Duration {
        let regions = configuration.regions.indices
        var largest = Duration.zero
        for a in regions { for b in regions where a != b { largest = max(largest, configuration.network.rtt(a, b)) } }
        return .milliseconds(200) + largest * 4
    }

    /// Returns once every phase two started so far (the `COMMIT PREPARED` / `ROLLBACK PREPARED`
    /// that follows an acknowledgement) has finished.
    public func waitForPhaseTwo() async {
        await phaseTwo.waitUntilIdle()
    }

    /// Closes the pools (idempotent), once phase two has finished; the servers keep running.
    func closePools() async {
        await phaseTwo.waitUntilIdle()
        await wanRoutes.withLock { $0 }?.closePools()
        let tasks = runTasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for (_, task) in tasks { task.cancel() }
        for (_, task) in tasks { await task.value }
    }

    public func shutdown() async throws {
        await closePools()
        await wanRoutes.withLock { $0 }?.stop()
    }
}

/// Runs a closure isolated to an actor whose executor is a NIO event loop, so the awaits inside
/// it resume on that event loop's thread.
actor EventLoopBound {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    func run<T: Sendable>(_ body: @Sendable (isolated EventLoopBound) async throws -> T) async rethrows -> T {
        try await body(self)
    }
}
