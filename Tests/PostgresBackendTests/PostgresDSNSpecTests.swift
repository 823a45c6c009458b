import Engine
import Foundation
import PostgresBackend
import PostgresCluster
import Results
import Synchronization
import Testing
import Workload
import WorkloadSpec

/// `dsn:` per region in a spec: parsed, refused with file:line:column naming the region, and a
/// spec whose regions name running servers by DSN drives them through the workload driver.
@Suite("Spec dsn per region")
struct PostgresDSNSpecTests {
    static func spec(dsn: String, extra: String = "") throws(SpecError) -> WorkloadSpec {
        let yaml = """
            name: dsn-test
            backend: postgres
            accounts: 300
            regions:
              - {name: local, replicas: 1, dsn: "\(dsn)"}
            clients: 4
            warmup: 0s
            transactions: 200
            isolation: read_committed
            \(extra)
            """
        return try WorkloadSpec.decode(bytes: Array(yaml.utf8), file: "dsn.yaml")
    }

    @Test("a DSN's parts are read; the defaults fill port and database; the password is not shown")
    func parses() throws {
        let full = try PostgresDSN(parsing: "postgresql://app:s%40cret@db.example:6543/bank")
        #expect(full == PostgresDSN(host: "db.example", port: 6543, user: "app", password: "s@cret", database: "bank"))
        #expect(full.description == "postgres://app:***@db.example:6543/bank")
        #expect(try PostgresDSN(parsing: "postgres://127.0.0.1") == PostgresDSN(host: "127.0.0.1"))
        #expect(
            try PostgresDSN(parsing: "postgres://u@[::1]:5433/x")
                == PostgresDSN(host: "::1", port: 5433, user: "u", database: "x"))
        let spec = try Self.spec(dsn: "postgres://postgres@127.0.0.1:5999/layerbench")
        #expect(spec.regions[0].dsn == PostgresDSN(host: "127.0.0.1", port: 5999))
        // The canonical text keeps the DSN and decodes to the same spec.
        #expect(try WorkloadSpec.decode(bytes: Array(spec.canonicalYAML.utf8), file: "canonical.yaml") == spec)
    }

    @Test(
        "a bad DSN is refused at its line and column, naming the region and the reason",
        arguments: [
            ("mysql://root@h/db", "postgres://"),
            ("postgres://u@h:99999/db", "port '99999'"),
            ("postgres://u@h:port/db", "port 'port'"),
            ("postgres://u@/db", "no host"),
            ("postgres://u@h/db?sslmode=require", "query parameters"),
        ])
    func refusesBadDSN(dsn: String, reason: String) throws {
        let error = #expect(throws: SpecError.self) { try Self.spec(dsn: dsn) }
        #expect(error?.code == .invalidValue)
        #expect(error?.file == "dsn.yaml")
        #expect(error?.line == 5)
        #expect(error?.column == 37)
        #expect(error?.keyPath == "regions[0].dsn")
        #expect(error?.message.contains("region 'local'") == true, "\(String(describing: error))")
        #expect(error?.message.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("every region or none gives a dsn; compare_pgbench needs backend postgres")
    func consistency() throws {
        let yaml = """
            name: dsn-test
            backend: postgres
            accounts: 10
            regions:
              - {name: a, dsn: "postgres://h1/db"}
              - {name: b}
            """
        let error = #expect(throws: SpecError.self) {
            try WorkloadSpec.decode(bytes: Array(yaml.utf8), file: "two.yaml")
        }
        #expect(error?.message.contains("region 'b' has no dsn") == true, "\(String(describing: error))")
        #expect(error?.keyPath == "regions")
        #expect(error?.line == 5)
        let embedded = #expect(throws: SpecError.self) {
            try WorkloadSpec.decode(
                bytes: Array("name: x\ncompare_pgbench: true\naccounts: 10\n".utf8), file: "x.yaml")
        }
        #expect(embedded?.keyPath == "compare_pgbench")
        #expect(embedded?.line == 2)
    }

    @Test(
        "a spec naming a running server by dsn runs through the driver; the audit passes",
        .enabled(if: PostgresTools.available(), "PostgreSQL 15 binaries not found (run scripts/setup)"))
    func runsAgainstDSN() async throws {
        let cluster = PostgresCluster(directory: PostgresBackendTests.directory())
        let state = try await cluster.up(
            ClusterTopology(regions: [.init(name: "local", replicas: 1)], asyncReplication: false), name: "dsn")
        do {
            let port = try #require(state.servers.first?.port)
            let spec = try Self.spec(dsn: "postgres://postgres@127.0.0.1:\(port)/layerbench")
            let deployment = try #require(PostgresDeployment.given(by: spec))
            #expect(deployment.cluster == nil)
            #expect(deployment.regions.map(\.primary.port) == [port])
            let driver = WorkloadDriver(
                spec: spec, options: DriverOptions(dataDirectory: NSTemporaryDirectory() + "layerbench-dsn-data"))
            try driver.checkSupported()
            let variant = try #require(spec.variants.first)
            let backends = BackendBox()
            let result = try await driver.run(variant: variant, index: 1, of: 1) { configuration in
                let backend = try PostgresBackend(configuration: configuration, deployment: deployment)
                backends.set(backend)
                return backend
            }
            #expect(result.transfers == 200)
            #expect(result.committed + (result.result(for: .singleRegion)?.rejected ?? 0) == 200)
            for check in result.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
            #expect(Set(result.checks.map(\.name)).isSuperset(of: ["conservation", "durability", "exactly_once"]))
            // Clients finish the transfer in flight when the target is reached: the server may
            // commit a few more than the measured ones, every one of them in the ledger.
            let backend = try #require(backends.get())
            let commits = try #require(backend.counters().totals["pg_commits"])
            #expect(commits >= Double(result.committed))
            let detail = try #require(backend.lastAudit)
            // Servers given by DSN are not LayerBench's to restart.
            #expect(!detail.restarted)
            #expect(detail.preparedLeft == 0)
            #expect(Double(detail.tsXminPairs) == commits)
        } catch {
            _ = try? await cluster.down()
            throw error
        }
        try await cluster.down()
    }
}

/// Holds the backend the driver made, for the test to read its audit detail.
final class BackendBox: Sendable {
    private let backend = Mutex<PostgresBackend?>(nil)

    func set(_ backend: PostgresBackend) { self.backend.withLock { $0 = backend } }
    func get() -> PostgresBackend? { backend.withLock { $0 } }
}
