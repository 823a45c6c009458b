import Foundation
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Local PostgreSQL 15 servers for a spec: `up` starts one primary per region on 127.0.0.1, each
/// with `replicas - 1` streaming standbys (`pg_basebackup -R`), synchronous or asynchronous; `down`
/// stops them and removes what `up` created. The cluster lives in a directory `up` creates and
/// marks with a `.layerbench` file, with a state file (``ClusterState``) so that `down` works
/// from a new process.
public struct PostgresCluster: Sendable {
    /// The database `up` creates on every primary.
    public static let databaseName = "layerbench"
    /// The superuser (trust authentication on loopback).
    public static let superuser = "postgres"
    /// The marker file naming a directory as created by `cluster up`.
    public static let markerName = ".layerbench"

    /// Settings beyond the topology.
    public struct Options: Sendable {
        /// The servers' `max_connections`; `max_prepared_transactions` is set equal to it.
        public var maxConnections: Int
        /// The ports to use, in server order (each region's primary, then its standbys);
        /// servers beyond the list get free ports chosen by binding port 0.
        public var ports: [Int]
        /// The longest wait for one server to start or stop.
        public var startTimeout: Duration
        /// Extra `name = value` lines appended to every primary's postgresql.conf after
        /// LayerBench's own (standbys copy them), e.g. `shared_buffers = '512MB'`.
        public var settings: [String]
        /// The binaries and clock.
        public var tools: PostgresTools

        /// The defaults: 100 connections, free ports, 30 s per server.
        public init(
            maxConnections: Int = 100, ports: [Int] = [], startTimeout: Duration = .seconds(30),
            settings: [String] = [], tools: PostgresTools = PostgresTools()
        ) {
            self.maxConnections = maxConnections
            self.ports = ports
            self.startTimeout = startTimeout
            self.settings = settings
            self.tools = tools
        }
    }

    /// The cluster's directory.
    public let directory: String
    /// The settings.
    public let options: Options

    /// The cluster in `directory`.
    public init(directory: String, options: Options = Options()) {
        let absolute =
            directory.hasPrefix("/")
            ? directory : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory)
        self.directory = (absolute as NSString).standardizingPath
        self.options = options
    }

    /// The default directory of a spec's cluster: `<temporary directory>/layerbench-cluster-<name>`.
    public static func defaultDirectory(specName: String) -> String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("layerbench-cluster-\(specName)")
    }

    private var tools: PostgresTools { options.tools }
    private var marker: String { (directory as NSString).appendingPathComponent(Self.markerName) }

    // MARK: - up

    /// Starts the servers of `topology` under `name` and creates the `layerbench` database on
    /// every primary; returns the state (also written to the directory).
    ///
    /// - Throws: ``ClusterError``: `.alreadyRunning` naming the cluster when the directory holds
    ///   one, `.directory` when it exists and was not created by `up`, `.portBusy` naming the
    ///   port, `.server` naming the server, its log file and the log's last lines. On any
    ///   failure, every server started is stopped and the directory removed.
    public func up(_ topology: ClusterTopology, name: String) async throws(ClusterError) -> ClusterState {
        try tools.checkAvailable()
        try claimDirectory(name: name)
        let user = try PostgresTools.serverUser()
        var state = ClusterState(
            spec: name, directory: directory, asyncReplication: topology.asyncReplication, servers: [])
        do {
            state.servers = try plan(topology)
            try state.write()
            for region in topology.regions {
                try await startRegion(region, topology: topology, state: &state, user: user)
            }
            for server in state.servers where server.isPrimary {
                _ = try await tools.query(
                    port: server.port, database: "postgres", "CREATE DATABASE \(Self.databaseName)")
                try await waitForReplay(server, standbys: state.servers.filter { $0.region == server.region }.count - 1)
            }
            return state
        } catch {
            await stopAll(state, user: user)
            removeDirectory()
            throw error
        }
    }

    /// Creates the directory and its marker, refusing a running cluster or a directory not ours.
    private func claimDirectory(name: String) throws(ClusterError) {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ClusterError(.directory, "\(directory) exists and is not a directory")
            }
            if fileManager.fileExists(atPath: marker) {
                let running = (try? ClusterState.read(directory: directory)) ?? nil
                let what =
                    running.map {
                        "cluster '\($0.spec)' (\($0.summary))"
                    } ?? "a cluster"
                throw ClusterError(
                    .alreadyRunning,
                    "\(what) is already up in \(directory); stop it first with `layerbench cluster down SPEC --directory \(directory)`"
                )
            }
            let entries = (try? fileManager.contentsOfDirectory(atPath: directory)) ?? ["?"]
            guard entries.isEmpty else {
                throw ClusterError(
                    .directory,
                    "\(directory) is not empty and was not created by `layerbench cluster up`; refusing to use it")
            }
        }
        // An existing empty directory is adopted: `down` then empties it but leaves it.
        let created = !fileManager.fileExists(atPath: directory)
        if created {
            let parent = (directory as NSString).deletingLastPathComponent
            guard fileManager.fileExists(atPath: parent) else {
                throw ClusterError(.directory, "the parent of \(directory) does not exist")
            }
            guard mkdir(directory, 0o755) == 0 else {
                throw ClusterError(.directory, "cannot create \(directory): \(String(cString: strerror(errno)))")
            }
        }
        // No `pid` line: the harness's stale-directory sweep must never take a live cluster.
        let text = "cluster \(name)\ncreated by layerbench cluster up\n\(Self.createdLine)\(created ? "yes" : "no")\n"
        guard fileManager.createFile(atPath: marker, contents: Data(text.utf8)) else {
            if created { rmdir(directory) }
            throw ClusterError(.directory, "cannot create the marker \(marker)")
        }
    }

    /// The servers of `topology` with their ports and paths (not yet started).
    private func plan(_ topology: ClusterTopology) throws(ClusterError) -> [ClusterState.Server] {
        let count = topology.regions.reduce(0) { $0 + $1.replicas }
        guard count > 0 else { throw ClusterError(.invalidTopology, "the spec declares no servers") }
        var ports = Array(options.ports.prefix(count))
        if ports.count < count { ports += try PostgresTools.freePorts(count - ports.count) }
        var servers: [ClusterState.Server] = []
        for region in topology.regions {
            let regionDirectory = (directory as NSString).appendingPathComponent(region.name)
            for index in 0..<region.replicas {
                let role = index == 0 ? "primary" : "standby"
                let serverName = index == 0 ? "\(region.name)-primary" : "\(region.name)-standby\(index)"
                servers.append(
                    ClusterState.Server(
                        region: region.name, role: role, name: serverName, port: ports[servers.count],
                        dataDirectory: (regionDirectory as NSString).appendingPathComponent(
                            index == 0 ? "primary" : "standby\(index)"),
                        logFile: (regionDirectory as NSString).appendingPathComponent("\(serverName).log"),
                        pid: 0))
            }
        }
        return servers
    }

    /// initdb and start the region's primary, then make and start its standbys.
    private func startRegion(
        _ region: ClusterTopology.Region, topology: ClusterTopology, state: inout ClusterState,
        user: PostgresTools.ServerUser?
    ) async throws(ClusterError) {
        let indices = state.servers.indices.filter { state.servers[$0].region == region.name }
        guard let primaryIndex = indices.first else { return }
        let primary = state.servers[primaryIndex]
        try PostgresTools.makeDirectory((primary.dataDirectory as NSString).deletingLastPathComponent, for: user)
        try await tools.check(
            "initdb",
            [
                "-D", primary.dataDirectory, "-U", Self.superuser, "--auth=trust", "--encoding=UTF8",
                "--locale=C", "--no-instructions",
            ], as: user, timeout: .seconds(120), what: "initdb of \(primary.name) in \(primary.dataDirectory)")
        let standbyNames = indices.dropFirst().map { state.servers[$0].name }
        try appendConfiguration(
            primaryConfiguration(
                port: primary.port, standbys: standbyNames,
                synchronous: topology.asyncReplication ? 0 : region.synchronousStandbys),
            to: (primary.dataDirectory as NSString).appendingPathComponent("postgresql.conf"))
        state.servers[primaryIndex].pid = try await start(primary, user: user)
        try state.write()
        for index in indices.dropFirst() {
            let standby = state.servers[index]
            try await tools.check(
                "pg_basebackup",
                [
                    "-D", standby.dataDirectory, "-h", "127.0.0.1", "-p", String(primary.port), "-U",
                    Self.superuser, "-R", "-X", "stream", "-c", "fast",
                ], as: user, timeout: .seconds(120),
                what: "pg_basebackup of \(standby.name) from \(primary.name) (127.0.0.1:\(primary.port))")
            try appendConfiguration(
                [
                    "# layerbench cluster up: standby \(standby.name) of \(primary.name)",
                    "port = \(standby.port)",
                    "primary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=\(Self.superuser) "
                        + "application_name=\(standby.name)'",
                ], to: (standby.dataDirectory as NSString).appendingPathComponent("postgresql.auto.conf"))
            state.servers[index].pid = try await start(standby, user: user)
            try state.write()
        }
    }

    /// The settings `up` appends to a primary's postgresql.conf (standbys copy them).
    func primaryConfiguration(port: Int, standbys: [String], synchronous: Int) -> [String] {
        let names = standbys.map { "\"\($0)\"" }.joined(separator: ", ")
        return [
            "# layerbench cluster up",
            "listen_addresses = '127.0.0.1'",
            "port = \(port)",
            "unix_socket_directories = ''",
            "max_connections = \(options.maxConnections)",
            "max_prepared_transactions = \(options.maxConnections)",
            "fsync = on",
            "synchronous_commit = on",
            "wal_level = replica",
            "max_wal_senders = \(max(10, standbys.count + 2))",
            "hot_standby = on",
            "synchronous_standby_names = '\(synchronous > 0 ? "ANY \(synchronous) (\(names))" : "")'",
        ] + options.settings
    }

    private func appendConfiguration(_ lines: [String], to path: String) throws(ClusterError) {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ClusterError(.server, "cannot open \(path) to configure the server")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(("\n" + lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            throw ClusterError(.server, "cannot write \(path): \(error)")
        }
    }

    /// Starts one server and waits (bounded) until pg_isready accepts it; returns its pid.
    /// `checkPort: false` on a restart: the server's own port may still have connections in
    /// TIME_WAIT, which the server (binding with SO_REUSEADDR) does not mind but the check would.
    private func start(
        _ server: ClusterState.Server, user: PostgresTools.ServerUser?, checkPort: Bool = true
    ) async throws(ClusterError) -> Int32 {
        if checkPort { try PostgresTools.checkFree(port: server.port, server: "\(server.name)") }
        let seconds = Int(options.startTimeout.components.seconds)
        let outcome = try await tools.run(
            "pg_ctl", ["start", "-D", server.dataDirectory, "-l", server.logFile, "-w", "-t", String(seconds)],
            as: user, timeout: options.startTimeout + .seconds(5))
        guard outcome.status == 0 else {
            throw ClusterError(.server, startFailure(server, outcome.output))
        }
        let clock = tools.clock
        let begin = clock.nowNanos()
        while true {
            let ready = try await tools.run(
                "pg_isready", ["-h", "127.0.0.1", "-p", String(server.port), "-t", "2"], timeout: .seconds(5))
            if ready.status == 0 { break }
            if clock.nanosSince(begin) > options.startTimeout.clampedNanoseconds {
                throw ClusterError(.server, startFailure(server, "pg_isready: \(ready.output)"))
            }
            try? await clock.sleep(nanoseconds: 100_000_000)
        }
        guard let pid = Self.postmasterPID(server.dataDirectory) else {
            throw ClusterError(.server, startFailure(server, "no postmaster.pid after start"))
        }
        return pid
    }

    /// Waits (bounded) until `standbys` standbys of `primary` have replayed its WAL up to now, so
    /// that every DSN `up` prints already sees the `layerbench` database.
    private func waitForReplay(_ primary: ClusterState.Server, standbys: Int) async throws(ClusterError) {
        guard standbys > 0 else { return }
        let target = try await tools.query(port: primary.port, database: "postgres", "SELECT pg_current_wal_lsn()")
        let clock = tools.clock
        let begin = clock.nowNanos()
        while true {
            let caughtUp = try await tools.query(
                port: primary.port, database: "postgres",
                "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn >= '\(target)'::pg_lsn")
            if Int(caughtUp) ?? 0 >= standbys { return }
            if clock.nanosSince(begin) > options.startTimeout.clampedNanoseconds {
                throw ClusterError(
                    .server,
                    "the standbys of \(primary.name) (127.0.0.1:\(primary.port)) did not replay up to \(target) "
                        + "within \(options.startTimeout): \(caughtUp) of \(standbys) caught up")
            }
            try? await clock.sleep(nanoseconds: 20_000_000)
        }
    }

    private func startFailure(_ server: ClusterState.Server, _ detail: String) -> String {
        let lines =
            (try? String(contentsOfFile: server.logFile, encoding: .utf8))?
            .split(separator: "\n", omittingEmptySubsequences: false).suffix(15).joined(separator: "\n") ?? "(none)"
        return "\(server.name) (127.0.0.1:\(server.port)) did not start: \(detail)\n"
            + "log \(server.logFile), last lines:\n\(lines)"
    }

    /// The pid in a data directory's postmaster.pid (its first line).
    static func postmasterPID(_ dataDirectory: String) -> Int32? {
        let path = (dataDirectory as NSString).appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let first = text.split(separator: "\n").first
        else { return nil }
        return Int32(first.trimmingCharacters(in: .whitespaces))
    }

    // MARK: - down

    /// Stops every server of the cluster in the directory (`pg_ctl stop -m fast`, standbys
    /// first) and removes the directory, which `up` created. Returns the state it stopped.
    ///
    /// - Throws: ``ClusterError``: `.notRunning` when the directory holds no cluster,
    ///   `.directory` when it was not created by `up`, `.server` naming a server that would not
    ///   stop (the directory is then kept).
    @discardableResult
    public func down() async throws(ClusterError) -> ClusterState {
        guard FileManager.default.fileExists(atPath: marker) else {
            if FileManager.default.fileExists(atPath: directory) {
                throw ClusterError(
                    .directory,
                    "\(directory) was not created by `layerbench cluster up` (no \(Self.markerName)); "
                        + "leaving it alone")
            }
            throw ClusterError(.notRunning, "no cluster in \(directory): it does not exist")
        }
        guard let state = try ClusterState.read(directory: directory) else {
            // Marked but never got as far as a state file: nothing was started.
            removeDirectory()
            throw ClusterError(.notRunning, "no cluster state in \(directory); removed the empty cluster directory")
        }
        let user = try PostgresTools.serverUser()
        let survivors = await stopAll(state, user: user)
        guard survivors.isEmpty else {
            throw ClusterError(
                .server,
                "could not stop \(survivors.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")); "
                    + "kept \(directory)")
        }
        removeDirectory()
        return state
    }

    // MARK: - restart

    /// Stops every server of the running cluster with a fast shutdown (`pg_ctl stop -m fast`,
    /// standbys first), then starts them again (primaries first; a primary a failover stopped
    /// stays stopped) and waits until each accepts
    /// connections: what a durability audit does before it reads the state back. Returns the
    /// state with the new pids (also written to the directory).
    ///
    /// - Throws: ``ClusterError``: `.notRunning` when the directory holds no cluster, `.server`
    ///   naming a server that would not stop or start (with its log's last lines).
    @discardableResult
    public func restart() async throws(ClusterError) -> ClusterState {
        guard FileManager.default.fileExists(atPath: marker), var state = try ClusterState.read(directory: directory)
        else {
            throw ClusterError(.notRunning, "no cluster in \(directory) to restart")
        }
        let user = try PostgresTools.serverUser()
        let survivors = await stopAll(state, user: user)
        guard survivors.isEmpty else {
            throw ClusterError(
                .server,
                "could not stop \(survivors.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")) for the restart"
            )
        }
        for index in state.servers.indices where state.servers[index].isPrimary {
            state.servers[index].pid = try await start(state.servers[index], user: user, checkPort: false)
        }
        for index in state.servers.indices where state.servers[index].role == "standby" {
            state.servers[index].pid = try await start(state.servers[index], user: user, checkPort: false)
        }
        try state.write()
        return state
    }

    // MARK: - failover

    /// Crashes `region`'s primary (`pg_ctl stop -m immediate`: no shutdown checkpoint, no final
    /// WAL sent, as a power cut would leave it) and promotes the standby that has replayed the
    /// most WAL (`pg_ctl promote`), the first one on a tie. The promoted server becomes the
    /// region's primary in the state; the crashed one is marked `failed` and is never started
    /// again (``restart()`` skips it; ``down()`` removes its directory). Any other standby is
    /// re-pointed at the promoted server (`primary_conninfo`, following the new timeline), and
    /// the promoted server's `synchronous_standby_names` names the standbys left: under sync
    /// replication, the same quorum (capped at the standbys left; none left: unreplicated until
    /// one is added); under async, none. Returns the state (also written to the directory).
    ///
    /// Under sync replication every commit the crashed primary acknowledged had reached a
    /// standby's disk, and the standby most advanced is promoted, so nothing acknowledged is lost
    /// when one standby remains or the quorum covers them all; under async the promoted server
    /// may lack the primary's last commits (the durability audit counts them).
    ///
    /// - Throws: ``ClusterError``: `.notRunning` when no cluster runs, `.invalidTopology` when the
    ///   region is unknown or has no standby, `.server` naming a server that would not stop or
    ///   be promoted.
    @discardableResult
    public func failover(region: String) async throws(ClusterError) -> ClusterState {
        guard FileManager.default.fileExists(atPath: marker), var state = try ClusterState.read(directory: directory)
        else {
            throw ClusterError(.notRunning, "no cluster in \(directory) to fail over")
        }
        guard let primaryIndex = state.servers.firstIndex(where: { $0.region == region && $0.isPrimary }) else {
            throw ClusterError(.invalidTopology, "no primary of region '\(region)' in the cluster in \(directory)")
        }
        let standbyIndices = state.servers.indices.filter {
            state.servers[$0].region == region && state.servers[$0].role == "standby"
        }
        guard !standbyIndices.isEmpty else {
            throw ClusterError(.invalidTopology, "region '\(region)' has no standby to promote")
        }
        let user = try PostgresTools.serverUser()
        let primary = state.servers[primaryIndex]
        let seconds = String(Int(options.startTimeout.components.seconds))
        _ = try? await tools.run(
            "pg_ctl", ["stop", "-D", primary.dataDirectory, "-m", "immediate", "-w", "-t", seconds], as: user,
            timeout: options.startTimeout + .seconds(5))
        guard await stop(primary, user: user) else {
            throw ClusterError(.server, "could not stop \(primary.name) (pid \(primary.pid)) for the failover")
        }
        state.servers[primaryIndex].role = Self.failedRole
        // The standby that replayed the most WAL (a byte position, compared as a number).
        var chosen = standbyIndices[0]
        var best: Double = -1
        for index in standbyIndices {
            let replayed = try? await tools.query(
                port: state.servers[index].port, database: "postgres",
                "SELECT coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0)")
            if let value = replayed.flatMap({ Double($0) }), value > best {
                best = value
                chosen = index
            }
        }
        let promoted = state.servers[chosen]
        try await tools.check(
            "pg_ctl", ["promote", "-D", promoted.dataDirectory, "-w", "-t", seconds], as: user,
            timeout: options.startTimeout + .seconds(5), what: "promotion of \(promoted.name)")
        state.servers[chosen].role = "primary"
        let left = standbyIndices.filter { $0 != chosen }.map { state.servers[$0] }
        let quorum =
            state.asyncReplication
            ? 0
            : min(
                left.count,
                Self.synchronousQuorum(
                    try await tools.query(
                        port: promoted.port, database: "postgres", "SHOW synchronous_standby_names")))
        let names = left.map { "\"\($0.name)\"" }.joined(separator: ", ")
        _ = try await tools.query(
            port: promoted.port, database: "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = '\(quorum > 0 ? "ANY \(quorum) (\(names))" : "")'")
        _ = try await tools.query(port: promoted.port, database: "postgres", "SELECT pg_reload_conf()")
        for standby in left {
            let conninfo =
                "host=127.0.0.1 port=\(promoted.port) user=\(Self.superuser) application_name=\(standby.name)"
            _ = try await tools.query(
                port: standby.port, database: "postgres", "ALTER SYSTEM SET primary_conninfo = '\(conninfo)'")
            _ = try await tools.query(port: standby.port, database: "postgres", "SELECT pg_reload_conf()")
        }
        // Moves the promoted server first in its region (the state keeps each region's primary
        // before its standbys).
        let entry = state.servers.remove(at: chosen)
        state.servers.insert(entry, at: state.servers.firstIndex { $0.region == region } ?? chosen)
        try state.write()
        return state
    }

    /// The role of a primary stopped by ``failover(region:)``: never started again.
    public static let failedRole = "failed"

    /// The `k` of `ANY k (...)` (or `FIRST k (...)`, or `k (...)`) in a `synchronous_standby_names`
    /// value; 1 for a bare list, 0 for none.
    static func synchronousQuorum(_ value: String) -> Int {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return 0 }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "(" })
        for word in words.prefix(2) { if let k = Int(word) { return k } }
        return 1
    }

    /// Stops every server (standbys first); returns those still running afterwards.
    @discardableResult
    private func stopAll(_ state: ClusterState, user: PostgresTools.ServerUser?) async -> [ClusterState.Server] {
        var survivors: [ClusterState.Server] = []
        for server in state.servers.filter({ !$0.isPrimary }) + state.servers.filter(\.isPrimary) {
            if await !stop(server, user: user) { survivors.append(server) }
        }
        return survivors
    }

    /// Stops one server; true when no postmaster of it remains.
    private func stop(_ server: ClusterState.Server, user: PostgresTools.ServerUser?) async -> Bool {
        let pid = Self.postmasterPID(server.dataDirectory) ?? server.pid
        guard pid > 0, Self.isPostmaster(pid, of: server.dataDirectory) else { return true }
        let seconds = Int(options.startTimeout.components.seconds)
        _ = try? await tools.run(
            "pg_ctl", ["stop", "-D", server.dataDirectory, "-m", "fast", "-w", "-t", String(seconds)], as: user,
            timeout: options.startTimeout + .seconds(5))
        if !Self.isPostmaster(pid, of: server.dataDirectory) { return true }
        // pg_ctl could not stop it: an immediate shutdown of this exact postmaster.
        kill(pid, SIGQUIT)
        let clock = tools.clock
        let begin = clock.nowNanos()
        while Self.isPostmaster(pid, of: server.dataDirectory), clock.nanosSince(begin) < 10_000_000_000 {
            try? await clock.sleep(nanoseconds: 50_000_000)
        }
        return !Self.isPostmaster(pid, of: server.dataDirectory)
    }

    /// Whether `pid` is alive and a postgres process serving `dataDirectory` (so a recycled
    /// pid is never signalled).
    static func isPostmaster(_ pid: Int32, of dataDirectory: String) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        // A zombie (exited, not yet reaped) has an empty command line.
        return arguments.contains(dataDirectory) && arguments.first.map { $0.hasSuffix("postgres") } == true
    }

    /// Removes the directory when it carries the marker `up` wrote.
    /// Removes the directory when it carries the marker `up` wrote; a directory `up` adopted
    /// (it existed, empty) is emptied and kept.
    private func removeDirectory() {
        let fileManager = FileManager.default
        guard let text = try? String(contentsOfFile: marker, encoding: .utf8) else { return }
        if text.contains("\(Self.createdLine)no") {
            for name in (try? fileManager.contentsOfDirectory(atPath: directory)) ?? [] where name != Self.markerName {
                try? fileManager.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            }
            try? fileManager.removeItem(atPath: marker)
        } else {
            try? fileManager.removeItem(atPath: directory)
        }
    }

    /// The marker's line saying whether `up` created the directory (`yes`) or adopted it (`no`).
    static let createdLine = "created-directory "

}
