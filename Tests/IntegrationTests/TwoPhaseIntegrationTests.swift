import Engine
import Foundation
import PostgresBackend
import PostgresCluster
import PostgresNIO
import Runtime
import Storage
import Synchronization
import Testing
import WorkloadSpec

#if canImport(Glibc)
    import Glibc
#endif

/// Cross-region transfers on the PostgreSQL backend through its L2 two-phase-commit coordinator,
/// against real PostgreSQL 15 servers (one primary per region, a WAN proxy in front of each
/// primary for the other region's coordinator). Skipped, with the reason in the test output, only
/// when the binaries are absent (scripts/setup installs them).
@Suite(
    "PostgresBackend two-phase commit across regions (real servers)", .serialized,
    .enabled(
        if: PostgresTools.available(),
        "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin (run scripts/setup to install them)"))
struct TwoPhaseIntegrationTests {
    static let regions = ["us-east", "eu-west"]
    /// The round trip between the two regions, added by the WAN proxies.
    static let rtt = Duration.milliseconds(10)
    static let accounts = 100
    static let initialBalance: Int64 = 1_000

    /// Two regions `rtt` apart. The crash tests run at repeatable read: at serializable, the
    /// predicate (SIREAD) locks a prepared transaction keeps until it is resolved make every later
    /// serializable transaction on the same pages fail with 40001 (the prepared one can no longer
    /// be the victim), so the transfers after a crash could not commit before recovery.
    static func configuration(
        pool: Int = 8, replicas: Int = 1, isolation: IsolationLevel = .serializable
    ) -> EngineConfiguration {
        EngineConfiguration(
            regions: regions.map { EngineConfiguration.Region(name: $0, replicas: replicas) },
            network: EngineConfiguration.Network(interRegionRTT: [[.zero, rtt], [rtt, .zero]]),
            dataDirectory: NSTemporaryDirectory(), durability: .fsync, isolation: isolation,
            runtime: RuntimeOptions(retry: RetryPolicy(maxAttempts: 50, maxTotal: .seconds(60))),
            pool: PoolOptions(maxSize: pool), batch: nil, payloadBytes: 16, overdraft: false)
    }

    static func directory() -> String {
        NSTemporaryDirectory() + "layerbench-2pc-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    /// Runs `body` with a loaded backend on a fresh 2-region cluster, and always shuts the backend
    /// down and brings the cluster down afterwards.
    static func withBackend(
        _ configuration: EngineConfiguration,
        _ body: (PostgresBackend, PostgresDeployment) async throws -> Void
    ) async throws {
        let cluster = PostgresCluster(directory: directory())
        let state = try await cluster.up(
            ClusterTopology(
                regions: configuration.regions.map { .init(name: $0.name, replicas: $0.replicas) },
                asyncReplication: false),
            name: "it-2pc")
        let deployment = PostgresDeployment(regions: PostgresDeployment.regions(of: state), cluster: cluster)
        try await withLoadedBackend(
            configuration, deployment: deployment, cluster: cluster, accounts: accounts,
            initialBalance: initialBalance
        ) { backend in try await body(backend, deployment) }
    }

    /// Prepared transactions of every primary (of `requests` only, when given: the gid ends with
    /// the request's id; phase two of acknowledged transfers may still be on its way).
    static func preparedLeft(_ deployment: PostgresDeployment, requests: [UInt64]? = nil) async throws -> Int64 {
        var filter = ""
        if let requests {
            filter = " WHERE " + requests.map { "gid LIKE '%\\_\($0)'" }.joined(separator: " OR ")
        }
        var total: Int64 = 0
        for region in deployment.regions {
            total += try await scalar(region.primary, "SELECT count(*) FROM pg_prepared_xacts" + filter)
        }
        return total
    }

    /// A cross-region transfer of `amount` from `from` (the client's region) to `to`.
    static func crossRegion(id: UInt64, from: AccountID, to: AccountID, amount: Int64 = 7) -> TransferRequest {
        let placement = AccountPlacement(accounts: accounts, regions: regions.count)
        return TransferRequest(
            id: id, from: from, to: to, amount: amount, clientRegion: placement.region(of: from))
    }

    @Test("cross-region transfers at serializable from concurrent clients commit, conserve, leave nothing prepared")
    func concurrentCrossRegion() async throws {
        let seed: UInt64 = 2_011
        try await Self.withBackend(Self.configuration(replicas: 2)) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            let clients = 6
            let perClient = 10
            // A region's 50 accounts share a few pages, so transfers conflict (40001, 40P01, 55P03)
            // and retry.
            let hot = 40
            let results = try await withThrowingTaskGroup(
                of: [(TransferRequest, TransferResult)].self
            ) { group in
                for client in 0..<clients {
                    group.addTask {
                        var random = SplitMix64(seed: seed &+ UInt64(client))
                        var done: [(TransferRequest, TransferResult)] = []
                        for index in 0..<perClient {
                            let home = client % 2
                            let other = 1 - home
                            let from = AccountID(
                                placement.accounts(in: home).lowerBound + Int.random(in: 0..<hot, using: &random))
                            // Every third transfer stays in one region (single-region path).
                            let target = index % 3 == 2 ? home : other
                            var to = AccountID(
                                placement.accounts(in: target).lowerBound + Int.random(in: 0..<hot, using: &random))
                            if to == from { to += 1 }
                            let request = Self.crossRegion(
                                id: UInt64(client * 1_000 + index + 1), from: from, to: to,
                                amount: Int64.random(in: 1...20, using: &random))
                            done.append((request, await backend.transfer(request)))
                        }
                        return done
                    }
                }
                var all: [(TransferRequest, TransferResult)] = []
                for try await part in group { all += part }
                return all
            }
            var acknowledged: [UInt64: TransactionID] = [:]
            var crossCommitted = 0
            var wanOnCriticalPath = 0
            var gaveUp = 0
            let rttNanos = UInt64(Self.rtt.components.attoseconds / 1_000_000_000)
            for (request, result) in results {
                let cross =
                    Set(request.legs.map { placement.region(of: $0.account) }).count > 1
                // Committed, or gave up on conflicts after the policy's retries: a prepared
                // transaction holds its rows (and, at serializable, its predicate locks) across a
                // WAN round trip, so a hot row can make an unlucky transfer lose every race.
                let conflict = ["40001", "40P01", "55P03"].map { TransferResult.Outcome.failed(sqlState: $0) }
                #expect(
                    result.outcome == .committed || conflict.contains(result.outcome),
                    "seed \(seed): request \(request.id) (cross \(cross)): \(result.outcome) after \(result.retriedErrors)"
                )
                guard result.outcome == .committed else {
                    gaveUp += 1
                    continue
                }
                acknowledged[request.id] = result.xid
                #expect(result.xid != 0)
                #expect(result.l2Nanos &+ result.l1Nanos &+ result.l0Nanos == result.endToEndNanos)
                if cross {
                    crossCommitted += 1
                    // The decision was written before the acknowledgement; the L2 spans add up.
                    #expect(result.l2Breakdown.decision > 0)
                    #expect(result.l2Breakdown.total == result.l2Nanos)
                    #expect(result.l0Nanos > 0)
                    // When the remote participant was the slowest, its round trips through the
                    // WAN proxy are L2 time (one round trip each at least).
                    if result.l2Breakdown.network >= rttNanos { wanOnCriticalPath += 1 }
                } else {
                    #expect(result.l2Nanos == 0)
                }
            }
            #expect(crossCommitted >= clients * perClient / 2)
            #expect(gaveUp <= clients * perClient / 10, "seed \(seed): \(gaveUp) transfers gave up")
            #expect(wanOnCriticalPath > 0)
            let totals = backend.counters().totals
            #expect(totals["l2_2pc_commits"] == Double(crossCommitted))
            // Phase two runs after the acknowledgement: once it is done, nothing is prepared
            // (counted before it was done, a clean-clone CI run found one still prepared).
            await backend.waitForPhaseTwo()
            #expect(try await Self.preparedLeft(deployment) == 0)

            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: acknowledged))
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.accountsFound == Self.accounts)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 0)
            #expect(report.negativeAccounts == 0)
            #expect(report.preparedRemaining == 0)
            // Each region's primary and standby hold the same state.
            #expect(report.stateHashes.count == 4)
            let detail = try #require(backend.lastAudit)
            #expect(detail.preparedLeft == 0)
            #expect(detail.inDoubtCommitted == 0 && detail.inDoubtAborted == 0)
            #expect(detail.tsXminPairs == acknowledged.count)
        }
    }

    @Test("a coordinator killed between PREPARE and its decision: recovery aborts, all-or-none, conserved")
    func crashAfterPrepare() async throws {
        try await Self.withBackend(Self.configuration(isolation: .repeatableRead)) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            let east = placement.accounts(in: 0)
            let west = placement.accounts(in: 1)
            // Odd ids crash after every participant prepared; each transfer has its own accounts
            // (a crashed one keeps its rows locked until recovery).
            backend.setCoordinatorCrashHook { step, request in step == .afterPrepare && request % 2 == 1 }
            var acknowledged: [UInt64: TransactionID] = [:]
            var crashed: [TransferRequest] = []
            for index in 0..<8 {
                let from = AccountID(index % 2 == 0 ? east.lowerBound + index : west.lowerBound + index)
                let to = AccountID(index % 2 == 0 ? west.lowerBound + index : east.lowerBound + index)
                let request = Self.crossRegion(id: UInt64(index + 1), from: from, to: to, amount: 10)
                let result = await backend.transfer(request)
                if request.id % 2 == 1 {
                    #expect(result.outcome == .failed(sqlState: "40003"), "request \(request.id): \(result.outcome)")
                    crashed.append(request)
                } else {
                    #expect(result.outcome == .committed, "request \(request.id): \(result.outcome)")
                    acknowledged[request.id] = result.xid
                }
            }
            backend.setCoordinatorCrashHook(nil)
            // The crashed coordinators left one prepared transaction per participant.
            #expect(try await Self.preparedLeft(deployment, requests: crashed.map(\.id)) == Int64(crashed.count * 2))
            #expect(backend.counters().totals["l2_coordinator_crashes"] == Double(crashed.count))

            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: acknowledged))
            let detail = try #require(backend.lastAudit)
            #expect(detail.inDoubtAborted == crashed.count * 2)
            #expect(detail.inDoubtCommitted == 0)
            #expect(report.inDoubtResolved == crashed.count * 2)
            #expect(detail.preparedLeft == 0)
            #expect(report.preparedRemaining == 0)
            #expect(try await Self.preparedLeft(deployment) == 0)
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.lost == 0)
            #expect(report.balanceMismatches == 0)
            // None of a crashed transfer took effect anywhere: no ledger row, balances untouched.
            for request in crashed {
                for leg in request.legs {
                    let dsn = deployment.regions[placement.region(of: leg.account)].primary
                    #expect(
                        try await scalar(dsn, "SELECT balance FROM accounts WHERE id = \(leg.account)")
                            == Self.initialBalance)
                }
                for region in deployment.regions {
                    #expect(
                        try await scalar(region.primary, "SELECT count(*) FROM ledger WHERE id = \(request.id)")
                            == 0)
                }
            }
        }
    }

    @Test("a coordinator killed after its durable decision, before COMMIT PREPARED: recovery commits it")
    func crashAfterDecision() async throws {
        try await Self.withBackend(Self.configuration(isolation: .repeatableRead)) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            let east = placement.accounts(in: 0)
            let west = placement.accounts(in: 1)
            backend.setCoordinatorCrashHook { step, _ in step == .afterDecision }
            var crashed: [TransferRequest] = []
            for index in 0..<4 {
                let from = AccountID(index % 2 == 0 ? east.lowerBound + index : west.lowerBound + index)
                let to = AccountID(index % 2 == 0 ? west.lowerBound + index : east.lowerBound + index)
                let request = Self.crossRegion(id: UInt64(100 + index), from: from, to: to, amount: 25)
                let result = await backend.transfer(request)
                #expect(result.outcome == .failed(sqlState: "40003"), "request \(request.id): \(result.outcome)")
                crashed.append(request)
            }
            backend.setCoordinatorCrashHook(nil)
            #expect(try await Self.preparedLeft(deployment) == Int64(crashed.count * 2))

            let resolved = try await backend.resolveInDoubt()
            #expect(resolved.committed == crashed.count * 2)
            #expect(resolved.aborted == 0)
            #expect(try await Self.preparedLeft(deployment) == 0)
            // Every participant committed its part: the ledger row in the debit region, each leg's
            // balance moved.
            for request in crashed {
                let debit = try #require(request.legs.first { $0.isDebit })
                let debitRegion = placement.region(of: debit.account)
                #expect(
                    try await scalar(
                        deployment.regions[debitRegion].primary, "SELECT count(*) FROM ledger WHERE id = \(request.id)")
                        == 1)
                for leg in request.legs {
                    let dsn = deployment.regions[placement.region(of: leg.account)].primary
                    #expect(
                        try await scalar(dsn, "SELECT balance FROM accounts WHERE id = \(leg.account)")
                            == Self.initialBalance + leg.amount)
                }
            }
            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false, acknowledged: [:]))
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.balanceMismatches == 0)
            #expect(report.preparedRemaining == 0)
            let detail = try #require(backend.lastAudit)
            #expect(detail.preparedLeft == 0)
            #expect(detail.tsXminPairs == crashed.count)
        }
    }

    @Test("prepared transactions a crashed coordinator left behind are resolved when a new backend starts")
    func startupRecovery() async throws {
        try await Self.withBackend(Self.configuration(isolation: .repeatableRead)) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            backend.setCoordinatorCrashHook { step, request in
                (step == .afterPrepare && request == 1) || (step == .afterDecision && request == 2)
            }
            let east = placement.accounts(in: 0).lowerBound
            let west = placement.accounts(in: 1).lowerBound
            _ = await backend.transfer(Self.crossRegion(id: 1, from: AccountID(east), to: AccountID(west)))
            _ = await backend.transfer(Self.crossRegion(id: 2, from: AccountID(west + 1), to: AccountID(east + 1)))
            #expect(try await Self.preparedLeft(deployment) == 4)
            try await backend.shutdown()

            // A new backend (the next run) resolves them before it drops and reloads the tables.
            let next = try PostgresBackend(
                configuration: Self.configuration(isolation: .repeatableRead), deployment: deployment)
            #expect(try await next.load(accounts: Self.accounts, initialBalance: Self.initialBalance) { _ in } == 100)
            #expect(try await Self.preparedLeft(deployment) == 0)
            let totals = next.counters().totals
            #expect(totals["l2_in_doubt_aborted"] == 2)
            #expect(totals["l2_in_doubt_committed"] == 2)
            try await next.shutdown()
        }
    }

    @Test("timestamps: tso: a coordinator outside the home region asks the home region's oracle across the WAN")
    func timestampOracle() async throws {
        var configuration = Self.configuration(isolation: .repeatableRead)
        configuration.timestamps = .tso
        try await Self.withBackend(configuration) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            let east = placement.accounts(in: 0).lowerBound
            let west = placement.accounts(in: 1).lowerBound
            var acknowledged: [UInt64: TransactionID] = [:]
            for index in 0..<6 {
                // Alternate the client's region: the eu-west coordinator's timestamps cross the WAN.
                let (from, to) = index % 2 == 0 ? (east + index, west + index) : (west + index, east + index)
                let request = Self.crossRegion(id: UInt64(200 + index), from: AccountID(from), to: AccountID(to))
                let result = await backend.transfer(request)
                #expect(result.outcome == .committed, "request \(request.id): \(result.outcome)")
                acknowledged[request.id] = result.xid
                if request.clientRegion == 1 {
                    // One round trip through the eu-west -> us-east proxy at least.
                    #expect(result.l2Breakdown.timestamp >= UInt64(Self.rtt.components.attoseconds / 1_000_000_000))
                }
            }
            // The oracle persisted its bound in the home region before it served a timestamp,
            // and every ledger row's ts is below it.
            let limit = try await scalar(deployment.regions[0].primary, "SELECT max(limit_ms) FROM l2_tso")
            #expect(limit > 0)
            for region in deployment.regions {
                #expect(
                    try await scalar(region.primary, "SELECT count(*) FROM ledger WHERE (ts >> 18) >= \(limit)")
                        == 0)
            }
            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: acknowledged))
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.lost == 0)
            #expect(report.balanceMismatches == 0)
        }
    }

    @Test("a coordinator killed after phase two reached one participant: acknowledged, and recovery commits the rest")
    func crashDuringPhaseTwo() async throws {
        try await Self.withBackend(Self.configuration(isolation: .repeatableRead)) { backend, deployment in
            let placement = AccountPlacement(accounts: Self.accounts, regions: Self.regions.count)
            backend.setCoordinatorCrashHook { step, _ in step == .duringPhaseTwo }
            let request = Self.crossRegion(
                id: 300, from: AccountID(placement.accounts(in: 1).lowerBound + 3),
                to: AccountID(placement.accounts(in: 0).lowerBound + 3), amount: 40)
            let result = await backend.transfer(request)
            // The decision was durable before the acknowledgement.
            #expect(result.outcome == .committed)
            backend.setCoordinatorCrashHook(nil)
            // The audit waits for the phase two that was sent (the first participant), then
            // resolves the other from the decision log.
            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: [request.id: result.xid]))
            let detail = try #require(backend.lastAudit)
            #expect(detail.inDoubtCommitted == 1)
            #expect(detail.inDoubtAborted == 0)
            #expect(detail.preparedLeft == 0)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 0)
            #expect(report.actualTotal == report.expectedTotal)
            for leg in request.legs {
                let dsn = deployment.regions[placement.region(of: leg.account)].primary
                #expect(
                    try await scalar(dsn, "SELECT balance FROM accounts WHERE id = \(leg.account)")
                        == Self.initialBalance + leg.amount)
            }
        }
    }
}
