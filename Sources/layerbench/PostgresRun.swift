import Engine
import Foundation
import PostgresBackend
import PostgresCluster
import Results
import Runtime
import Synchronization
import WorkloadSpec

/// What `layerbench run` does for `backend: postgres`: use the servers the spec names by `dsn:`,
/// or start the spec's local cluster (and stop it at the end); make each variant's backend;
/// after each variant, add the postgres audit's own checks and, when the spec asks, run pgbench
/// side by side on the same server.
final class PostgresRun: Sendable {
    let spec: WorkloadSpec
    let deployment: PostgresDeployment
    /// The backend of the variant running now (for its audit detail).
    private let current = Mutex<PostgresBackend?>(nil)

    private init(spec: WorkloadSpec, deployment: PostgresDeployment) {
        self.spec = spec
        self.deployment = deployment
    }

    /// The spec's servers: its DSNs, or a local cluster started now in the temporary directory.
    static func start(spec: WorkloadSpec, runID: String) async throws -> PostgresRun {
        if let given = PostgresDeployment.given(by: spec) {
            return PostgresRun(spec: spec, deployment: given)
        }
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "layerbench-cluster-\(spec.name)-\(runID)")
        let asyncReplication = spec.optimisations.asyncReplication.first ?? false
        // Enough connections for the pool, the two-phase pools of every region's coordinator, and
        // pgbench's clients, plus psql and the audit.
        let clients: Int =
            switch spec.load {
            case .closedLoop(let counts): counts.max() ?? 1
            case .openLoop(_, let maxInFlight): maxInFlight
            }
        let connections = max(100, spec.pool.size * (spec.regions.count + 1) + clients + 10)
        let deployment = try await PostgresDeployment.start(
            spec: spec, asyncReplication: asyncReplication, directory: directory,
            options: PostgresCluster.Options(maxConnections: connections))
        return PostgresRun(spec: spec, deployment: deployment)
    }

    /// A fresh backend on the deployment for one variant.
    func makeBackend(_ configuration: EngineConfiguration) throws -> any Backend {
        let backend = try PostgresBackend(configuration: configuration, deployment: deployment)
        current.withLock { $0 = backend }
        return backend
    }

    /// The description of where the servers are, for the log.
    var summary: String {
        let servers = deployment.regions.map { "\($0.name) \($0.primary)" }.joined(separator: ", ")
        return deployment.cluster == nil
            ? "postgres servers given by dsn: \(servers)"
            : "postgres cluster started by layerbench: \(servers)"
    }

    /// Adds the postgres audit's checks to `result` and, when the spec asks, pgbench's numbers.
    func finish(_ result: inout VariantResult, variant: Variant, isolation: IsolationLevel) async throws {
        if let detail = current.withLock({ $0 })?.lastAudit {
            result.checks += Self.checks(detail)
        }
        guard spec.comparePgbench, let region = deployment.regions.first else { return }
        let clients = variant.clients ?? Int(result.parameters["clients"] ?? "") ?? 1
        let seconds: Int =
            switch spec.length {
            case .duration(let duration): max(1, Int(duration.components.seconds))
            case .transactions: max(1, Int(result.durationSeconds.rounded()))
            }
        // pgbench runs the backend's own transaction (the same server function, the same three
        // round trips), so the ratio compares the clients, not two different transactions.
        let runner = PgbenchRunner()
        try await PostgresBackend.preparePgbench(region.primary)
        let warmup = Int(spec.warmup.components.seconds)
        if warmup > 0 {
            _ = try await runner.run(
                dsn: region.primary, accounts: spec.accounts, clients: clients, seconds: warmup, isolation: isolation,
                amount: spec.amount, maxTries: spec.retry.maxAttempts, kind: .function,
                overdraft: spec.overdraft)
        }
        let measured = try await runner.run(
            dsn: region.primary, accounts: spec.accounts, clients: clients, seconds: seconds, isolation: isolation,
            amount: spec.amount, maxTries: spec.retry.maxAttempts, kind: .function,
            overdraft: spec.overdraft)
        result.pgbench = PgbenchResult(
            clients: measured.clients, threads: measured.threads, durationSeconds: Double(measured.seconds),
            transactions: measured.transactions, failedTransactions: measured.failed, tps: measured.tps,
            latencyAverageMs: measured.latencyAverageMs, latencyStddevMs: measured.latencyStddevMs,
            command: measured.command, script: measured.script)
    }

    /// The checks only PostgreSQL servers have: nothing left prepared, standbys caught up before
    /// the audit, the fast restart done, and the recorded `ts -> xmin` mapping (informational).
    static func checks(_ detail: PostgresBackend.AuditDetail) -> [CheckResult] {
        let lagging = detail.standbysCaughtUp.filter { !$0.value }.map(\.key).sorted()
        let standbys = detail.standbys.values.reduce(0, +)
        return [
            CheckResult(
                name: "no_prepared_left", passed: detail.preparedLeft == 0,
                detail: "\(detail.preparedLeft) prepared transactions in pg_prepared_xacts after the restart and "
                    + "in-doubt resolution (\(detail.inDoubtCommitted) committed, \(detail.inDoubtAborted) rolled "
                    + "back from the coordinators' decision logs)"),
            CheckResult(
                name: "standbys_caught_up", passed: lagging.isEmpty,
                detail: lagging.isEmpty
                    ? "\(standbys) standby(s) replayed up to the primary's current LSN before the audit"
                    : "standbys of \(lagging.joined(separator: ", ")) did not replay up to the primary's LSN"),
            CheckResult(
                name: "fast_restart", passed: true,
                detail: detail.restarted
                    ? "every server stopped with pg_ctl -m fast and restarted before the audit"
                    : "servers given by dsn: not restarted by layerbench (the audit read them as they run)"),
            CheckResult(
                name: "ts_xmin_mapping", passed: true,
                detail:
                    "\(detail.tsXminPairs) ledger rows map ts -> xmin (PostgreSQL assigns its own xids: a recorded "
                    + "mapping, not an identity); \(detail.tsXminInversions) adjacent pairs have xmin out of ts order"),
        ]
    }

    /// Stops the local cluster (nothing for servers given by DSN).
    func stop() async throws {
        try await deployment.stop()
    }
}
