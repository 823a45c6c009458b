import Foundation
import PostgresCluster
import Storage
import Testing
import WorkloadSpec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Real PostgreSQL 15 servers started by `PostgresCluster`. Skipped, with the reason shown in the
/// test output, only when the PostgreSQL binaries are absent (scripts/setup installs them).
@Suite(
    "PostgresCluster with real servers", .serialized,
    .enabled(
        if: PostgresTools.available(),
        "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin (run scripts/setup to install them)"))
struct ClusterIntegrationTests {
    static let tools = PostgresTools()

    /// A 2-region x 2-replica spec, synchronous standbys.
    static func spec() throws -> WorkloadSpec {
        let yaml = """
            name: it-2x2
            accounts: 1000
            clients: 4
            duration: 1s
            regions:
              - {name: us-east, replicas: 2}
              - {name: eu-west, replicas: 2}
            network:
              rtt:
                us-east: {eu-west: 80ms}
            optimisations:
              async_replication: false
            """
        return try WorkloadSpec.decode(bytes: Array(yaml.utf8), file: "it-2x2.yaml")
    }

    /// A fresh directory path (not created: `up` creates it).
    static func directory() -> String {
        NSTemporaryDirectory() + "layerbench-it-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    /// Runs `body` on a started cluster, and always brings the cluster down afterwards.
    static func withCluster(
        _ cluster: PostgresCluster, _ topology: ClusterTopology,
        _ body: (ClusterState) async throws -> Void
    ) async throws {
        let state = try await cluster.up(topology, name: "it-2x2")
        do {
            try await body(state)
        } catch {
            _ = try? await cluster.down()
            throw error
        }
        try await cluster.down()
    }

    /// Whether any process serves one of `dataDirectories` (a postgres whose command line names it).
    static func serversAlive(_ dataDirectories: [String]) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var alive: [String] = []
        for entry in entries where Int32(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            alive += dataDirectories.filter { arguments.contains($0) }.map { "pid \(entry): \($0)" }
        }
        return alive
    }

    @Test("2 regions x 2 replicas (sync): rows replicate to standbys; up twice errors; down leaves nothing")
    func twoByTwoSync() async throws {
        let directory = Self.directory()
        let cluster = PostgresCluster(directory: directory)
        let topology = try ClusterTopology(spec: Self.spec())
        var dataDirectories: [String] = []
        try await Self.withCluster(cluster, topology) { state in
            dataDirectories = state.servers.map(\.dataDirectory)
            #expect(state.servers.filter(\.isPrimary).map(\.region) == ["us-east", "eu-west"])
            #expect(state.servers.filter { !$0.isPrimary }.map(\.region) == ["us-east", "eu-west"])
            #expect(Set(state.servers.map(\.port)).count == 4)
            #expect(Self.serversAlive(dataDirectories).count >= 4)
            #expect(try ClusterState.read(directory: directory) == state)

            for region in ["us-east", "eu-west"] {
                let primary = try #require(state.servers.first { $0.region == region && $0.isPrimary })
                let standby = try #require(state.servers.first { $0.region == region && !$0.isPrimary })
                #expect(
                    try await Self.tools.query(port: primary.port, "SHOW synchronous_standby_names")
                        == "ANY 1 (\"\(standby.name)\")")
                #expect(try await Self.tools.query(port: primary.port, "SHOW max_prepared_transactions") == "100")
                #expect(try await Self.tools.query(port: primary.port, "SHOW fsync") == "on")
                #expect(try await Self.tools.query(port: standby.port, "SELECT pg_is_in_recovery()") == "t")
                #expect(
                    try await Self.tools.query(
                        port: primary.port, "SELECT application_name, sync_state FROM pg_stat_replication")
                        == "\(standby.name)|quorum")

                _ = try await Self.tools.query(
                    port: primary.port,
                    "CREATE TABLE probe(id int primary key, region text); INSERT INTO probe VALUES (1, '\(region)')")
                // Wait (bounded) until the standby has replayed everything the primary wrote.
                let target = try await Self.tools.query(port: primary.port, "SELECT pg_current_wal_lsn()")
                let clock = SystemClock.shared
                let begin = clock.nowNanos()
                var caughtUp = false
                while !caughtUp, clock.nanosSince(begin) < 30_000_000_000 {
                    caughtUp =
                        try await Self.tools.query(
                            port: primary.port,
                            "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn >= '\(target)'::pg_lsn") == "1"
                    if !caughtUp { try await clock.sleep(nanoseconds: 50_000_000) }
                }
                #expect(caughtUp, "standby \(standby.name) did not replay up to \(target) within 30 s")
                #expect(
                    try await Self.tools.query(port: standby.port, "SELECT region FROM probe WHERE id = 1") == region)
            }

            let again = await #expect(throws: ClusterError.self) {
                try await PostgresCluster(directory: directory).up(topology, name: "it-2x2")
            }
            #expect(again?.kind == .alreadyRunning)
            #expect(again?.message.contains(directory) == true)
            #expect(again?.message.contains("it-2x2") == true)
            // The refused second `up` touched nothing: the first cluster still answers.
            for server in state.servers {
                #expect(try await Self.tools.query(port: server.port, "SELECT 1") == "1")
            }
        }
        #expect(Self.serversAlive(dataDirectories).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test("a busy port fails `up` naming the port, and leaves no server or directory behind")
    func busyPort() async throws {
        let listener = try Listener()
        defer { listener.close() }
        let directory = Self.directory()
        // The eu-west primary (third server) gets the busy port: us-east's servers start first.
        let cluster = PostgresCluster(
            directory: directory, options: .init(ports: try PostgresToolsPorts.free(2) + [listener.port]))
        let topology = try ClusterTopology(spec: Self.spec())
        let error = await #expect(throws: ClusterError.self) { try await cluster.up(topology, name: "it-2x2") }
        #expect(error?.kind == .portBusy(listener.port))
        #expect(error?.message.contains("port \(listener.port)") == true)
        #expect(error?.message.contains("eu-west-primary") == true)
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(Self.serversAlive([directory + "/us-east/primary", directory + "/us-east/standby1"]).isEmpty)
    }
}

/// Free ports for tests, chosen as `up` chooses them (bind port 0, hold until all chosen).
enum PostgresToolsPorts {
    static func free(_ count: Int) throws -> [Int] {
        let listeners = try (0..<count).map { _ in try Listener() }
        defer { for listener in listeners { listener.close() } }
        return listeners.map(\.port)
    }
}
