import Foundation
import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The PostgreSQL binaries `cluster up` runs, and the user it runs the servers as.
public struct PostgresTools: Sendable {
    /// Debian's PostgreSQL 15 binaries.
    public static let defaultDirectory = "/usr/lib/postgresql/15/bin"
    /// The binaries `cluster up` and `down` need.
    public static let required = ["initdb", "pg_ctl", "pg_isready", "pg_basebackup", "psql"]

    /// The directory holding the binaries.
    public var directory: String
    /// The clock for timeouts and polling.
    public var clock: any EngineClock

    /// Tools in `directory`.
    public init(directory: String = PostgresTools.defaultDirectory, clock: any EngineClock = SystemClock.shared) {
        self.directory = directory
        self.clock = clock
    }

    /// Whether every required binary is present and executable in `directory`.
    public static func available(in directory: String = defaultDirectory) -> Bool {
        required.allSatisfy { FileManager.default.isExecutableFile(atPath: "\(directory)/\($0)") }
    }

    /// Throws naming the missing binaries and how to install them.
    func checkAvailable() throws(ClusterError) {
        let missing = Self.required.filter { !FileManager.default.isExecutableFile(atPath: "\(directory)/\($0)") }
        guard missing.isEmpty else {
            throw ClusterError(
                .binariesMissing,
                "PostgreSQL 15 binaries missing in \(directory): \(missing.joined(separator: ", ")) "
                    + "(run scripts/setup, which installs the postgresql package)")
        }
    }

    // MARK: - The server's user

    /// The user the servers run as: the `postgres` system user when this process is root (the
    /// server refuses to run as root), else this process's own user (nil: no switch).
    struct ServerUser: Sendable {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    /// `postgres` when running as root; nil otherwise.
    static func serverUser() throws(ClusterError) -> ServerUser? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") else {
            throw ClusterError(
                .server,
                "running as root, but there is no 'postgres' user to run the servers as "
                    + "(the postgresql package creates it; or run as a non-root user)")
        }
        return ServerUser(name: "postgres", uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Creates `path` (one level) and gives it to the server's user.
    static func makeDirectory(_ path: String, for user: ServerUser?) throws(ClusterError) {
        guard mkdir(path, 0o700) == 0 else {
            throw ClusterError(.directory, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        try give(path, to: user)
    }

    /// Makes the server's user own `path`.
    static func give(_ path: String, to user: ServerUser?) throws(ClusterError) {
        guard let user else { return }
        guard chown(path, user.uid, user.gid) == 0 else {
            throw ClusterError(
                .directory, "cannot give \(path) to user \(user.name): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - Running a binary

    /// The outcome of one tool run.
    struct Outcome: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `tool` (a binary in ``directory``) with `arguments`, as `user` when given, and
    /// waits at most `timeout`; its standard output and error are returned together.
    ///
    /// - Throws: ``ClusterError`` when it cannot start or outlives `timeout` (then it is
    ///   terminated).
    func run(
        _ tool: String, _ arguments: [String], as user: ServerUser? = nil, timeout: Duration = .seconds(60),
        environment extra: [String: String] = [:]
    ) async throws(ClusterError) -> Outcome {
        let binary = "\(directory)/\(tool)"
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0.name, "--", binary] } ?? [binary]
        // Output goes to a private file, not a pipe: a server started by pg_ctl must not hold
        // our pipe open.
        let capture = NSTemporaryDirectory() + "layerbench-pgtool-\(getpid())-\(UUID().uuidString)"
        let captureFD = open(capture, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard captureFD >= 0 else {
            throw ClusterError(.server, "cannot create \(capture) for the output of \(tool)")
        }
        defer {
            close(captureFD)
            unlink(capture)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PGCONNECT_TIMEOUT"] = "10"
        environment["LC_ALL"] = "C"
        environment.merge(extra) { _, new in new }
        let pid = try Self.spawn(
            argv + arguments, environment: environment.map { "\($0.key)=\($0.value)" }, output: captureFD)
        let start = clock.nowNanos()
        let limit = timeout.clampedNanoseconds
        var status: Int32 = 0
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0, errno != EINTR {
                throw ClusterError(.server, "waiting for \(tool): \(String(cString: strerror(errno)))")
            }
            if clock.nanosSince(start) > limit {
                kill(pid, SIGTERM)
                _ = waitpid(pid, &status, 0)
                throw ClusterError(
                    .server,
                    "\(tool) \(arguments.joined(separator: " ")) did not finish within \(timeout); stopped it")
            }
            try? await clock.sleep(nanoseconds: 5_000_000)
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let output = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
        return Outcome(status: exitStatus, output: output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Starts `argv` with standard input from /dev/null and standard output and error to
    /// `output`; returns its pid (the caller reaps it with waitpid).
    private static func spawn(_ argv: [String], environment: [String], output: Int32) throws(ClusterError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        Self.closeInheritedDescriptors(&actions)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments + cEnvironment { free(pointer) }
        }
        // The child starts with no signal blocked and the usual signals at their default action:
        // a Swift process's threads block most signals and `layerbench run` ignores SIGINT and
        // SIGTERM, and a child would inherit both (pgbench's -T never ends with SIGALRM blocked,
        // and a tool ignoring SIGTERM outlives its timeout).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGALRM, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard result == 0 else {
            throw ClusterError(.server, "cannot run \(argv[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Adds to `actions` the closing of every descriptor above standard error in the child. Not
    /// every library opens its descriptors close-on-exec (sockets of swift-nio here), and a server
    /// that inherits a proxy's accepted socket keeps that connection open after the proxy closes
    /// it, so its client never sees the end. glibc's `posix_spawn_file_actions_addclosefrom_np`
    /// (2.34, looked up at run time: Swift's Glibc module does not declare it); failing that, one
    /// close action per descriptor open now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap({ Int32($0) }) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }

    /// Runs a client binary of ``directory`` (pgbench, psql) as this process's user, with
    /// `environment` added, and waits at most `timeout`; returns its exit status and its standard
    /// output and error together.
    ///
    /// - Throws: ``ClusterError`` when it cannot start or outlives `timeout` (then it is stopped).
    public func runClient(
        _ tool: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration
    ) async throws(ClusterError) -> (status: Int32, output: String) {
        let outcome = try await run(tool, arguments, timeout: timeout, environment: environment)
        return (outcome.status, outcome.output)
    }

    /// Runs `tool` and throws when it exits non-zero, with `what` and its output in the message.
    @discardableResult
    func check(
        _ tool: String, _ arguments: [String], as user: ServerUser? = nil, timeout: Duration = .seconds(60),
        what: String
    ) async throws(ClusterError) -> String {
        let outcome = try await run(tool, arguments, as: user, timeout: timeout)
        guard outcome.status == 0 else {
            throw ClusterError(.server, "\(what) failed (\(tool) exited \(outcome.status)): \(outcome.output)")
        }
        return outcome.output
    }

    /// Runs `sql` with psql on the server at 127.0.0.1:`port` as the superuser, in `database`;
    /// returns psql's unaligned, tuples-only output.
    public func query(port: Int, database: String = PostgresCluster.databaseName, _ sql: String)
        async throws(ClusterError) -> String
    {
        try await check(
            "psql",
            [
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U",
                PostgresCluster.superuser, "-d", database, "-c", sql,
            ], timeout: .seconds(30), what: "psql on 127.0.0.1:\(port)/\(database)")
    }

    // MARK: - Ports

    /// Binds `count` distinct free ports on 127.0.0.1 (port 0, the kernel's choice), holding
    /// each until all are chosen so none repeats.
    static func freePorts(_ count: Int) throws(ClusterError) -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let (socket, port) = try bind(port: 0)
            sockets.append(socket)
            ports.append(port)
        }
        return ports
    }

    /// Throws ``ClusterError/Kind/portBusy(_:)`` when `port` on 127.0.0.1 cannot be bound.
    static func checkFree(port: Int, server: String) throws(ClusterError) {
        do {
            let (socket, _) = try bind(port: port)
            close(socket)
        } catch {
            throw ClusterError(
                .portBusy(port),
                "port \(port) on 127.0.0.1 for \(server) is busy (\(error.message)): "
                    + "another process listens on it; stop it or choose other ports")
        }
    }

    /// A TCP socket bound to 127.0.0.1:`port` and its port number.
    static func bind(port: Int) throws(ClusterError) -> (Int32, Int) {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ClusterError(.server, "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                #if canImport(Glibc)
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                #else
                    Darwin.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                #endif
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ClusterError(.portBusy(port), reason)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            close(fd)
            throw ClusterError(.server, "getsockname: \(String(cString: strerror(errno)))")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel chose: what holds a port busy (the
/// tests of `cluster up` on a busy port use it).
package struct LoopbackListener {
    /// The listening socket.
    package let fd: Int32
    /// The port it listens on.
    package let port: Int

    /// Binds a free port on 127.0.0.1 and listens on it.
    package init() throws(ClusterError) {
        let (fd, port) = try PostgresTools.bind(port: 0)
        guard listen(fd, 1) == 0 else {
            let reason = String(cString: strerror(errno))
            Self.closeSocket(fd)
            throw ClusterError(.server, "listen: \(reason)")
        }
        self.fd = fd
        self.port = port
    }

    /// Stops listening and frees the port.
    package func close() { Self.closeSocket(fd) }

    private static func closeSocket(_ fd: Int32) {
        #if canImport(Glibc)
            _ = Glibc.close(fd)
        #else
            _ = Darwin.close(fd)
        #endif
    }
}
