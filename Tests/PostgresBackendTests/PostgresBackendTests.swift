import Engine
import Foundation
import PostgresBackend
import PostgresCluster
import PostgresNIO
import Runtime
import Storage
import Testing
import Workload
import WorkloadSpec

#if canImport(Glibc)
    import Glibc
#endif

/// The PostgreSQL backend against real PostgreSQL 15 servers started by `PostgresCluster` (run as
/// the `postgres` user when the tests run as root, on loopback only). Skipped, with the reason in
/// the test output, only when the binaries are absent (scripts/setup installs them).
@Suite(
    "PostgresBackend with real servers", .serialized,
    .enabled(
        if: PostgresTools.available(),
        "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin (run scripts/setup to install them)"))
struct PostgresBackendTests {
    /// A fresh cluster directory path (`up` creates it).
    static func directory() -> String {
        NSTemporaryDirectory() + "layerbench-pgb-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    /// An engine configuration of one region `local`.
    static func configuration(
        replicas: Int = 1, isolation: IsolationLevel = .serializable, pool: Int = 8,
        retry: RetryPolicy = RetryPolicy(), overdraft: Bool = false
    ) -> EngineConfiguration {
        EngineConfiguration(
            regions: [EngineConfiguration.Region(name: "local", replicas: replicas)],
            dataDirectory: NSTemporaryDirectory(), durability: .fsync, isolation: isolation,
            runtime: RuntimeOptions(retry: retry), pool: PoolOptions(maxSize: pool), batch: nil, payloadBytes: 16,
            overdraft: overdraft)
    }

    /// Runs `body` with a backend on a fresh one-region cluster of `replicas` servers, and always
    /// shuts the backend down and brings the cluster down afterwards.
    static func withBackend(
        _ configuration: EngineConfiguration,
        _ body: (PostgresBackend, PostgresDeployment) async throws -> Void
    ) async throws {
        let cluster = PostgresCluster(directory: directory())
        let replicas = configuration.regions[0].replicas
        let state = try await cluster.up(
            ClusterTopology(regions: [.init(name: "local", replicas: replicas)], asyncReplication: false),
            name: "pgb")
        let deployment = PostgresDeployment(regions: PostgresDeployment.regions(of: state), cluster: cluster)
        do {
            let backend = try PostgresBackend(configuration: configuration, deployment: deployment)
            do {
                try await body(backend, deployment)
            } catch {
                try? await backend.shutdown()
                throw error
            }
            try await backend.shutdown()
        } catch {
            _ = try? await cluster.down()
            throw error
        }
        try await cluster.down()
    }

    static func scalar(_ connection: PostgresConnection, _ sql: String) async throws -> Int64 {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var value: Int64 = -1
        for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(
            Int64.self)
        {
            value = v
        }
        return value
    }

    /// `count` seeded random two-leg transfers over `accounts` accounts, ids from `firstID`.
    static func transfers(count: Int, accounts: Int, seed: UInt64, firstID: UInt64 = 1) -> [TransferRequest] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let from = UInt64.random(in: 0..<UInt64(accounts), using: &random)
            let to = (from + UInt64.random(in: 1..<UInt64(accounts), using: &random)) % UInt64(accounts)
            return TransferRequest(
                id: firstID + UInt64(index), from: from, to: to, amount: Int64.random(in: 1...50, using: &random))
        }
    }

    @Test("transfers commit, conserve money, and survive a fast restart of primary and standby")
    func transfersConserveAndSurviveRestart() async throws {
        let seed: UInt64 = 11
        try await Self.withBackend(Self.configuration(replicas: 2)) { backend, deployment in
            #expect(try await backend.load(accounts: 200, initialBalance: 1_000) { _ in } == 200)
            var acknowledged: [UInt64: TransactionID] = [:]
            for request in Self.transfers(count: 60, accounts: 200, seed: seed) {
                let result = await backend.transfer(request)
                #expect(result.outcome == .committed, "seed \(seed): request \(request.id): \(result.outcome)")
                #expect(result.xid != 0)
                #expect(result.l2Nanos == 0)
                #expect(result.l0Nanos > 0 && result.l0Nanos <= result.endToEndNanos)
                if result.outcome == .committed { acknowledged[request.id] = result.xid }
            }
            let totals = backend.counters().totals
            #expect(totals["pg_commits"] == 60)
            // BEGIN, SELECT lb_participate(...) (locks, funds check, UPDATEs, INSERT), COMMIT per
            // transfer: three round trips (six before the function).
            #expect(totals["pg_statements"] == 180)
            #expect(backend.gauges()["load_rows"] == 200)

            let report = try await backend.audit(
                AuditExpectation(accounts: 200, initialBalance: 1_000, overdraft: false, acknowledged: acknowledged))
            #expect(report.expectedTotal == 200_000)
            #expect(report.actualTotal == 200_000)
            #expect(report.accountsFound == 200)
            #expect(report.acknowledged == 60)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 0)
            #expect(report.negativeAccounts == 0)
            // Primary and standby hold the same state.
            #expect(report.stateHashes.count == 2)
            #expect(Set(report.stateHashes.values).count == 1)
            let detail = try #require(backend.lastAudit)
            #expect(detail.restarted)
            #expect(detail.standbysCaughtUp == ["local": true])
            #expect(detail.standbys == ["local": 1])
            #expect(detail.preparedLeft == 0)
            #expect(detail.tsXminPairs == 60)
            _ = deployment
        }
    }

    @Test("a transaction that lost a serialization race is retried by the L1 policy with 40001, then commits")
    func serializationFailureIsRetried() async throws {
        let retry = RetryPolicy(maxAttempts: 5, baseBackoff: .microseconds(10), maxBackoff: .microseconds(100))
        try await Self.withBackend(Self.configuration(isolation: .repeatableRead, retry: retry)) {
            backend, deployment in
            _ = try await backend.load(accounts: 10, initialBalance: 1_000) { _ in }
            let primary = deployment.regions[0].primary
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let result = try await PostgresBackend.withConnection(to: primary) { blocker in
                // The blocker updates account 1 and holds its row lock.
                try await blocker.query("BEGIN", logger: logger)
                try await blocker.query("UPDATE accounts SET balance = balance + 5 WHERE id = 1", logger: logger)
                let transfer = Task { await backend.transfer(TransferRequest(id: 1, from: 1, to: 2, amount: 7)) }
                // Wait (bounded) until the transfer waits for the blocker's row lock.
                // (Observed from a third connection: statistics views are snapshots per transaction.)
                let waiting = try await PostgresBackend.withConnection(to: primary) { observer in
                    var waiting: Int64 = 0
                    for _ in 0..<3_000 where waiting == 0 {
                        waiting = try await Self.scalar(observer, "SELECT count(*) FROM pg_locks WHERE NOT granted")
                        if waiting == 0 { try await SystemClock.shared.sleep(nanoseconds: 10_000_000) }
                    }
                    return waiting
                }
                #expect(waiting == 1, "the transfer never waited for the row lock")
                // Its snapshot predates this commit: under REPEATABLE READ its FOR UPDATE fails 40001.
                try await blocker.query("COMMIT", logger: logger)
                return await transfer.value
            }
            #expect(result.outcome == .committed)
            #expect(result.retriedErrors == ["40001"])
            let totals = backend.counters().totals
            #expect(totals["retries"] == 1)
            #expect(totals["retries_40001"] == 1)
            #expect(totals["pg_commits"] == 1)
            let report = try await backend.audit(
                AuditExpectation(
                    accounts: 10, initialBalance: 1_000, overdraft: false, acknowledged: [1: result.xid]))
            // The blocker's +5 is outside the ledger: the only departure from conservation.
            #expect(report.actualTotal == 10_005)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 1)
        }
    }

    @Test(
        "16 concurrent clients on 6 accounts: conflicts are retried (40001/40P01) until all commit; money is conserved")
    func concurrentTransfers() async throws {
        let seed: UInt64 = 23
        let retry = RetryPolicy(
            maxAttempts: 200, baseBackoff: .microseconds(100), maxBackoff: .milliseconds(5), maxTotal: .seconds(120))
        let configuration = Self.configuration(isolation: .serializable, pool: 8, retry: retry, overdraft: true)
        try await Self.withBackend(configuration) { backend, _ in
            _ = try await backend.load(accounts: 6, initialBalance: 10_000) { _ in }
            let requests = Self.transfers(count: 240, accounts: 6, seed: seed)
            let results = await withTaskGroup(of: [(UInt64, TransferResult)].self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        var mine: [(UInt64, TransferResult)] = []
                        for request in requests[(worker * 15)..<((worker + 1) * 15)] {
                            mine.append((request.id, await backend.transfer(request)))
                        }
                        return mine
                    }
                }
                var all: [(UInt64, TransferResult)] = []
                for await results in group { all += results }
                return all
            }
            #expect(results.count == 240)
            var acknowledged: [UInt64: TransactionID] = [:]
            var retried = 0
            for (id, result) in results {
                #expect(result.outcome == .committed, "seed \(seed): request \(id): \(result.outcome)")
                #expect(result.retriedErrors.allSatisfy { $0 == "40001" || $0 == "40P01" }, "seed \(seed)")
                retried += result.retriedErrors.count
                acknowledged[id] = result.xid
            }
            let totals = backend.counters().totals
            #expect(totals["pg_commits"] == 240, "seed \(seed): \(totals)")
            // Every failed attempt was retried, and counted by its SQLSTATE.
            #expect(totals["retries"] == Double(retried), "seed \(seed): \(totals)")
            #expect(
                (totals["pg_errors_40001"] ?? 0) + (totals["pg_errors_40P01"] ?? 0) == Double(retried),
                "seed \(seed): \(totals)")
            #expect(totals["pg_transactions"] == Double(240 + retried), "seed \(seed): \(totals)")
            let report = try await backend.audit(
                AuditExpectation(accounts: 6, initialBalance: 10_000, overdraft: true, acknowledged: acknowledged))
            #expect(report.actualTotal == 60_000)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 0)
            #expect(backend.lastAudit?.tsXminPairs == 240)
        }
    }

    @Test("invalid requests fail with 22023 before any write")
    func invalidRequests() async throws {
        try await Self.withBackend(Self.configuration()) { backend, deployment in
            _ = try await backend.load(accounts: 10, initialBalance: 100) { _ in }
            let invalid = [
                TransferRequest(id: 1, from: 3, to: 3, amount: 5),
                TransferRequest(id: 2, from: 1, to: 2, amount: 0),
                TransferRequest(id: 3, from: 1, to: 2, amount: -5),
                TransferRequest(id: 4, from: 1, to: 10_000, amount: 5),
                TransferRequest(
                    id: 5, legs: [TransferLeg(account: 1, amount: -5), TransferLeg(account: 2, amount: 4)]),
            ]
            for request in invalid {
                let result = await backend.transfer(request)
                #expect(result.isInvalidInput, "request \(request.id): \(result.outcome)")
                #expect(result.xid == 0)
            }
            // Only the unknown account reached the server (a read, then ROLLBACK): nothing written.
            #expect(backend.counters().totals["pg_commits"] == 0)
            try await PostgresBackend.withConnection(to: deployment.regions[0].primary) { connection in
                let ledgerRows = try await Self.scalar(connection, "SELECT count(*) FROM ledger")
                let changed = try await Self.scalar(connection, "SELECT count(*) FROM accounts WHERE balance <> 100")
                #expect(ledgerRows == 0)
                #expect(changed == 0)
            }
            // Overdraft refused: a business rejection, not an error.
            let rejected = await backend.transfer(TransferRequest(id: 6, from: 1, to: 2, amount: 101))
            #expect(rejected.outcome == .rejected)
        }
    }

    @Test("the audit detects a lost ledger row after the restart")
    func lostLedgerRowIsDetected() async throws {
        try await Self.withBackend(Self.configuration()) { backend, deployment in
            _ = try await backend.load(accounts: 50, initialBalance: 1_000) { _ in }
            var acknowledged: [UInt64: TransactionID] = [:]
            for request in Self.transfers(count: 20, accounts: 50, seed: 5) {
                let result = await backend.transfer(request)
                #expect(result.outcome == .committed)
                acknowledged[request.id] = result.xid
            }
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            try await PostgresBackend.withConnection(to: deployment.regions[0].primary) { connection in
                try await connection.query("DELETE FROM ledger WHERE id = 7", logger: logger)
            }
            let report = try await backend.audit(
                AuditExpectation(accounts: 50, initialBalance: 1_000, overdraft: false, acknowledged: acknowledged))
            #expect(report.lost == 1)
            #expect(report.actualTotal == 50_000)
            #expect(report.xidMismatches == 0)
            // The deleted row's two accounts no longer match initial + ledger movements.
            #expect(report.balanceMismatches == 2)
        }
    }
}

extension PostgresBackendTests {
    /// Loads 1,000 accounts, runs pgbench's `kind` script on the primary (4 clients, 1 s, read
    /// committed); returns what pgbench measured and the ledger rows on the server afterwards.
    static func pgbench(
        _ kind: PgbenchRunner.Script, backend: PostgresBackend, deployment: PostgresDeployment
    ) async throws -> (PgbenchRunner.Measurement, Int64) {
        _ = try await backend.load(accounts: 1_000, initialBalance: 1_000) { _ in }
        let primary = deployment.regions[0].primary
        try await PostgresBackend.preparePgbench(primary)
        let measured = try await PgbenchRunner().run(
            dsn: primary, accounts: 1_000, clients: 4, seconds: 1, isolation: .readCommitted,
            amount: WorkloadSpec.AmountRange(min: 1, max: 10), maxTries: 10, kind: kind)
        let ledgerRows = try await PostgresBackend.withConnection(to: primary) { connection in
            try await scalar(connection, "SELECT count(*) FROM ledger")
        }
        return (measured, ledgerRows)
    }
}

extension PostgresBackendTests {
    @Test("pgbench runs the equivalent script on the same server; its ledger rows keep the audit whole")
    func pgbenchSideBySide() async throws {
        try await Self.withBackend(Self.configuration(isolation: .readCommitted)) { backend, deployment in
            let (measured, ledgerRows) = try await Self.pgbench(.statements, backend: backend, deployment: deployment)
            #expect(measured.transactions > 0)
            #expect(measured.tps > 0)
            #expect(measured.clients == 4)
            #expect(measured.command.contains("-M prepared -c 4"))
            #expect(measured.script.contains("FOR UPDATE"))
            #expect(ledgerRows == Int64(measured.transactions - measured.failed))
            let report = try await backend.audit(
                AuditExpectation(accounts: 1_000, initialBalance: 1_000, overdraft: true, acknowledged: [:]))
            #expect(report.actualTotal == 1_000_000)
            #expect(report.balanceMismatches == 0)
        }
    }
}

extension PostgresBackendTests {
    @Test("pgbench runs the backend's own transaction (the same server function); the audit stays whole")
    func pgbenchFunctionScript() async throws {
        try await Self.withBackend(Self.configuration(isolation: .readCommitted)) { backend, deployment in
            let (measured, ledgerRows) = try await Self.pgbench(.function, backend: backend, deployment: deployment)
            #expect(measured.transactions > 0)
            #expect(measured.failed == 0)
            #expect(measured.script.contains("lb_participate"))
            #expect(ledgerRows == Int64(measured.transactions))
            let report = try await backend.audit(
                AuditExpectation(accounts: 1_000, initialBalance: 1_000, overdraft: false, acknowledged: [:]))
            #expect(report.actualTotal == 1_000_000)
            #expect(report.balanceMismatches == 0)
            #expect(report.negativeAccounts == 0)
        }
    }
}
