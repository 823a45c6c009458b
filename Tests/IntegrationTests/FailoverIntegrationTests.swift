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

/// A region's primary crashed (`pg_ctl stop -m immediate`) while concurrent transfers run, its
/// standby promoted, the backend re-pointed, and the durability audit run against the promoted
/// server: under sync replication nothing acknowledged is lost; under async replication what is
/// lost is counted (``AuditReport/acknowledgedLostInFailover``), never hidden, and money is
/// conserved on what the promoted server has. Skipped, with the reason in the test output, only
/// when the binaries are absent (scripts/setup installs them).
// This suite was disabled for a session: the sync case hung after the promotion in a clean-clone
// CI run. Two causes, both fixed and tested by `queuedTransferEndsAtFailover`: a transfer waiting
// for a lease on the old pool waited for ever (the pool retried the dead server without end; a
// failover now shuts it down), and a ROLLBACK sent after a connection failure was dropped by
// postgres-nio unanswered (no statement follows a connection failure now).
@Suite(
    "PostgresBackend failover: standby promoted after the primary crashed (real servers)", .serialized,
    .enabled(
        if: PostgresTools.available(),
        "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin (run scripts/setup to install them)"))
struct FailoverIntegrationTests {
    static let region = "solo"
    static let accounts = 200
    static let initialBalance: Int64 = 1_000
    static let clients = 4
    /// Transfers each client runs; client 0 crashes the primary after `crashAfter` of its own.
    static let perClient = 40
    static let crashAfter = 15

    static func configuration(
        replication: EngineConfiguration.Replication, poolSize: Int = 8
    ) -> EngineConfiguration {
        EngineConfiguration(
            regions: [EngineConfiguration.Region(name: region, replicas: 2)],
            replication: replication, dataDirectory: NSTemporaryDirectory(), durability: .fsync,
            isolation: .repeatableRead,
            runtime: RuntimeOptions(retry: RetryPolicy(maxAttempts: 20, maxTotal: .seconds(30))),
            pool: PoolOptions(maxSize: poolSize), batch: nil, payloadBytes: 16, overdraft: false)
    }

    /// What one run of transfers with a failover in the middle produced.
    struct Run {
        var acknowledged: [UInt64: TransactionID] = [:]
        var failed: [String] = []
        var committedAfterFailover = 0
        var promoted: ClusterState.Server?
    }

    /// Starts a one-region cluster (primary and one standby, sync or async), loads it, runs
    /// `clients` concurrent clients of transfers; client 0 calls `backend.failover(region:)`
    /// after `crashAfter` of its transfers while the others keep going. Then `body` audits.
    static func withFailover(
        async: Bool, _ body: (PostgresBackend, Run) async throws -> Void
    ) async throws {
        try await withCluster(async: async, poolSize: 8) { backend, _ in
            let run = try await transfers(backend)
            try await body(backend, run)
        }
    }

    /// A loaded backend (pool of `poolSize`) on a one-region cluster, primary and one standby.
    static func withCluster(
        async: Bool, poolSize: Int, _ body: (PostgresBackend, PostgresDeployment) async throws -> Void
    ) async throws {
        let cluster = PostgresCluster(
            directory: NSTemporaryDirectory() + "layerbench-failover-\(getpid())-\(UUID().uuidString.prefix(8))")
        _ = try await cluster.up(
            ClusterTopology(regions: [.init(name: region, replicas: 2)], asyncReplication: async), name: "it-failover")
        let state: ClusterState
        do {
            state = try #require(try ClusterState.read(directory: cluster.directory))
        } catch {
            _ = try? await cluster.down()
            throw error
        }
        let deployment = PostgresDeployment(regions: PostgresDeployment.regions(of: state), cluster: cluster)
        try await withLoadedBackend(
            configuration(replication: async ? .async : .sync, poolSize: poolSize), deployment: deployment,
            cluster: cluster, accounts: accounts, initialBalance: initialBalance
        ) { backend in try await body(backend, deployment) }
    }

    static func transfers(_ backend: PostgresBackend) async throws -> Run {
        let seed: UInt64 = 1_111
        return try await withThrowingTaskGroup(of: Run.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(client))
                    var run = Run()
                    var failedOver = false
                    for index in 0..<perClient {
                        if client == 0 && index == crashAfter {
                            run.promoted = try await backend.failover(region: region)
                            failedOver = true
                        }
                        let from = AccountID(Int.random(in: 0..<accounts, using: &random))
                        var to = AccountID(Int.random(in: 0..<accounts, using: &random))
                        if to == from { to = (to + 1) % AccountID(accounts) }
                        let request = TransferRequest(
                            id: UInt64(client * 1_000 + index + 1), from: from, to: to,
                            amount: Int64.random(in: 1...20, using: &random), clientRegion: 0)
                        let result = await backend.transfer(request)
                        switch result.outcome {
                        case .committed:
                            run.acknowledged[request.id] = result.xid
                            if failedOver { run.committedAfterFailover += 1 }
                        case .failed(let state):
                            run.failed.append(state)
                            // A client that lost its server backs off before the next transfer,
                            // as an application would (a bound on its spinning, not an ordering).
                            try await SystemClock.shared.sleep(nanoseconds: 20_000_000)
                        default: break
                        }
                    }
                    return run
                }
            }
            var all = Run()
            for try await part in group {
                all.acknowledged.merge(part.acknowledged) { first, _ in first }
                all.failed += part.failed
                all.committedAfterFailover += part.committedAfterFailover
                all.promoted = all.promoted ?? part.promoted
            }
            return all
        }
    }

    /// The acknowledged transfers whose ledger row the promoted server holds, read directly.
    static func found(_ run: Run, on server: ClusterState.Server) async throws -> Int {
        let ids = try await PostgresTools().query(port: server.port, "SELECT id FROM ledger")
        let present = Set(ids.split(separator: "\n").compactMap { UInt64($0) })
        return run.acknowledged.keys.filter { present.contains($0) }.count
    }

    @Test("sync: the primary crashes mid-run, its standby is promoted: nothing acknowledged lost, money conserved")
    func synchronousFailover() async throws {
        try await Self.withFailover(async: false) { backend, run in
            let promoted = try #require(run.promoted)
            #expect(promoted.name == "\(Self.region)-standby1")
            #expect(promoted.isPrimary)
            // Transfers in flight at the crash fail on their connection and are not acknowledged;
            // client 0's transfers after the failover commit on the promoted server.
            #expect(run.committedAfterFailover >= Self.perClient - Self.crashAfter)
            #expect(run.acknowledged.count + run.failed.count <= Self.clients * Self.perClient)
            // Failed transfers failed on their connection (the crash, or the fence while the
            // region had no primary), or on a conflict after the retries.
            #expect(run.failed.allSatisfy { ["08006", "40001", "40P01"].contains($0) }, "\(run.failed)")
            #expect(try await PostgresTools().query(port: promoted.port, "SELECT pg_is_in_recovery()") == "f")

            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: run.acknowledged))
            #expect(report.acknowledged == run.acknowledged.count)
            #expect(report.lost == 0)
            #expect(report.acknowledgedLostInFailover == 0)
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.accountsFound == Self.accounts)
            #expect(report.balanceMismatches == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.negativeAccounts == 0)
            #expect(try await Self.found(run, on: promoted) == run.acknowledged.count)
            let detail = try #require(backend.lastAudit)
            #expect(detail.failovers == [Self.region: promoted.name])
        }
    }

    @Test("async: the primary crashes mid-run, its standby is promoted: losses counted, money conserved")
    func asynchronousFailover() async throws {
        try await Self.withFailover(async: true) { backend, run in
            let promoted = try #require(run.promoted)
            #expect(run.committedAfterFailover >= Self.perClient - Self.crashAfter)

            let report = try await backend.audit(
                AuditExpectation(
                    accounts: Self.accounts, initialBalance: Self.initialBalance, overdraft: false,
                    acknowledged: run.acknowledged))
            // Async replication may lose acknowledged transfers in a failover (on loopback often
            // none): whatever is lost is counted, and lost + found is every acknowledged transfer.
            let found = try await Self.found(run, on: promoted)
            #expect(report.acknowledged == run.acknowledged.count)
            #expect(report.lost + found == run.acknowledged.count)
            #expect(report.acknowledgedLostInFailover == report.lost)
            // Conservation and exactly-once on what the promoted server has.
            #expect(report.actualTotal == report.expectedTotal)
            #expect(report.accountsFound == Self.accounts)
            #expect(report.balanceMismatches == 0)
            #expect(report.xidMismatches == 0)
            let detail = try #require(backend.lastAudit)
            #expect(detail.failovers == [Self.region: promoted.name])
            #expect(detail.lostInFailover == report.lost)
        }
    }

    /// A transfer, started in the background; `result` is nil until it ends.
    final class Pending: Sendable {
        let outcome = Mutex<TransferResult?>(nil)
        init(_ backend: PostgresBackend, _ request: TransferRequest) {
            Task {
                let result = await backend.transfer(request)
                self.outcome.withLock { $0 = result }
            }
        }
        var result: TransferResult? { outcome.withLock { $0 } }
    }

    /// Polls `condition` every 20 ms until it holds or `limit` passes (a hang bound, not a
    /// timing assertion); returns whether it held.
    static func eventually(within limit: Duration = .seconds(60), _ condition: () async throws -> Bool)
        async throws -> Bool
    {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test("a transfer queued for the old primary's pool when it crashed fails (08006), it does not wait forever")
    func queuedTransferEndsAtFailover() async throws {
        try await Self.withCluster(async: false, poolSize: 1) { backend, deployment in
            let primary = deployment.regions[0].primary
            try await PostgresBackend.withConnection(to: primary) { blocker in
                // The blocker holds account 0's row: transfer A (0 -> 1) waits for it on the pool's
                // only connection, and transfer B (2 -> 3) waits for a lease behind A.
                _ = try await blocker.query("BEGIN", logger: PostgresBackend.quietLogger)
                _ = try await blocker.query(
                    "SELECT balance FROM accounts WHERE id = 0 FOR UPDATE", logger: PostgresBackend.quietLogger)
                let a = Pending(backend, TransferRequest(id: 1, from: 0, to: 1, amount: 5, clientRegion: 0))
                #expect(
                    try await Self.eventually {
                        try await scalar(
                            primary, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                            == 1
                    })
                let b = Pending(backend, TransferRequest(id: 2, from: 2, to: 3, amount: 5, clientRegion: 0))
                #expect(try await Self.eventually { backend.counters().nodes.values.first?["pool_waits"] == 1 })
                #expect(backend.counters().nodes.values.first?["pool_acquires"] == 2)

                let promoted = try await backend.failover(region: Self.region)
                #expect(promoted.isPrimary)
                // Both end, unacknowledged, with their connection's failure: A's connection died
                // with the primary; B's lease was on a pool whose server is gone.
                #expect(try await Self.eventually { a.result != nil && b.result != nil })
                #expect(a.result?.outcome == .failed(sqlState: "08006"))
                #expect(b.result?.outcome == .failed(sqlState: "08006"))
                // A sent BEGIN and lb_participate, and no ROLLBACK after its connection failed
                // (postgres-nio drops a statement written to a closed connection and never
                // answers it: that ROLLBACK was the other way a transfer waited for ever).
                #expect(backend.counters().nodes.values.first?["pg_statements"] == 2)
                // The next transfer commits on the promoted server.
                let c = await backend.transfer(TransferRequest(id: 3, from: 4, to: 5, amount: 5, clientRegion: 0))
                #expect(c.outcome == .committed)
            }
        }
    }
}
