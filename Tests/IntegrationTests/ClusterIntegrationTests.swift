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
    static func spec(asyncReplication: String = "false") throws -> WorkloadSpec {
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
              async_replication: \(asyncReplication)
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
        let listener = try LoopbackListener()
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

extension ClusterIntegrationTests {
    @Test("async_replication true: standbys stream asynchronously (no synchronous_standby_names)")
    func asyncStandbys() async throws {
        let directory = Self.directory()
        let matrix = try Self.spec(asyncReplication: "[false, true]")
        let topology = try ClusterTopology(spec: matrix, asyncReplication: true)
        try await Self.withCluster(PostgresCluster(directory: directory), topology) {
            (state: ClusterState) async throws in
            for primary in state.servers.filter(\.isPrimary) {
                #expect(try await Self.tools.query(port: primary.port, "SHOW synchronous_standby_names") == "")
                #expect(
                    try await Self.tools.query(
                        port: primary.port, "SELECT application_name, sync_state FROM pg_stat_replication")
                        == "\(primary.region)-standby1|async")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test("an existing empty directory is used and, after down, left in place empty")
    func adoptedDirectory() async throws {
        let directory = Self.directory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let topology = ClusterTopology(regions: [.init(name: "solo", replicas: 1)], asyncReplication: false)
        try await Self.withCluster(PostgresCluster(directory: directory), topology) { (state: ClusterState) in
            #expect(state.servers.count == 1)
        }
        #expect(FileManager.default.fileExists(atPath: directory))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test("a server that fails to start is named with its log file and the log's last lines")
    func failedStart() async throws {
        let directory = Self.directory()
        let cluster = PostgresCluster(
            directory: directory, options: .init(settings: ["shared_buffers = 'not-a-size'"]))
        let topology = ClusterTopology(regions: [.init(name: "solo", replicas: 2)], asyncReplication: false)
        let error = await #expect(throws: ClusterError.self) { try await cluster.up(topology, name: "it-fail") }
        #expect(error?.kind == .server)
        #expect(error?.message.contains("solo-primary") == true)
        #expect(error?.message.contains("\(directory)/solo/solo-primary.log") == true)
        // The log's last lines carry PostgreSQL's own complaint about the setting.
        #expect(error?.message.contains("shared_buffers") == true)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test("the CLI: `cluster up` prints DSNs and creates the database; `down` in a new process stops all")
    func commandLine() async throws {
        let scratch = Self.directory()
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let specPath = scratch + "/it-2x2.yaml"
        let yaml = """
            name: it-cli
            accounts: 1000
            clients: 4
            duration: 1s
            regions:
              - {name: us-east, replicas: 2}
              - {name: eu-west, replicas: 1}
            network:
              rtt:
                us-east: {eu-west: 80ms}
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: specPath))
        let directory = scratch + "/cluster"
        do {
            try await Self.commandLine(specPath: specPath, directory: directory)
        } catch {
            _ = try? await PostgresCluster(directory: directory).down()
            throw error
        }
    }

    /// The body of ``commandLine()``: up, up again, down, down again through the binary.
    static func commandLine(specPath: String, directory: String) async throws {

        let up = try await Binary.run(["cluster", "up", specPath, "--directory", directory])
        #expect(up.status == 0, "\(up.output)")
        let dsns = up.output.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "postgres://postgres@127.0.0.1:") else { return nil }
            return String(line[range.lowerBound...].prefix { $0 != " " })
        }
        #expect(dsns.count == 3)
        #expect(dsns.allSatisfy { $0.hasSuffix("/layerbench") })
        let state = try #require(try ClusterState.read(directory: directory))
        #expect(Set(dsns) == Set(state.servers.map { $0.dsn() }))
        for server in state.servers {
            // `up` returns once the standbys replayed the CREATE DATABASE: every DSN works at once.
            #expect(try await Self.tools.query(port: server.port, "SELECT current_database()") == "layerbench")
        }

        let again = try await Binary.run(["cluster", "up", specPath, "--directory", directory])
        #expect(again.status == 1)
        #expect(again.output.contains("already up in \(directory)"))

        let down = try await Binary.run(["cluster", "down", specPath, "--directory", directory])
        #expect(down.status == 0, "\(down.output)")
        #expect(serversAlive(state.servers.map(\.dataDirectory)).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory))
        let downAgain = try await Binary.run(["cluster", "down", specPath, "--directory", directory])
        #expect(downAgain.status == 1)
        #expect(downAgain.output.contains("no cluster in \(directory)"))
    }
}

/// Runs the built `layerbench` binary (beside the test bundle) with posix_spawn, output to a file.
enum Binary {
    struct Result {
        var status: Int32
        var output: String
    }

    static var path: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("layerbench").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("layerbench").path
    }

    /// Runs the binary to completion; killed after `timeout` seconds (a bound, not an ordering).
    static func run(_ arguments: [String], timeout: UInt64 = 120) async throws -> Result {
        let capture = NSTemporaryDirectory() + "layerbench-it-out-\(UUID().uuidString)"
        let fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer {
            close(fd)
            unlink(capture)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        let argv = [path] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, cArguments, environ) == 0 else { throw POSIXError(.ENOEXEC) }
        let clock = SystemClock.shared
        let begin = clock.nowNanos()
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) != pid {
            if clock.nanosSince(begin) > timeout * 1_000_000_000 {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            try await clock.sleep(nanoseconds: 10_000_000)
        }
        let output = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
        return Result(status: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output: output)
    }
}

/// Free ports for tests, chosen as `up` chooses them (bind port 0, hold until all chosen).
enum PostgresToolsPorts {
    static func free(_ count: Int) throws -> [Int] {
        let listeners = try (0..<count).map { _ in try LoopbackListener() }
        defer { for listener in listeners { listener.close() } }
        return listeners.map(\.port)
    }
}
