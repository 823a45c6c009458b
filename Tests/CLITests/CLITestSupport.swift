import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every suite that runs the binary, one at a time: each run is a process competing for the
/// machine's cores with the other tests.
@Suite("CLI", .serialized) enum CLISuites {}

/// What one run of the `layerbench` binary produced.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Both streams, for messages that may go to either.
    var output: String { stdout + stderr }
}

/// Runs the built `layerbench` binary (the executable beside this test bundle) as a user would.
enum CLI {
    /// The binary: `layerbench` in the build directory that holds the test bundle.
    static var binary: URL {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // On Linux the test runner is `<build>/LayerBenchPackageTests.xctest`; on macOS it sits
        // inside `<build>/LayerBenchPackageTests.xctest/Contents/MacOS/`.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("layerbench").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("layerbench")
    }

    /// A fresh scratch directory for one test.
    static func scratch(_ name: String = #function) throws -> URL {
        let slug = name.filter { $0.isLetter || $0.isNumber }
        let url = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("layerbench-cli-\(slug)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `text` to `directory/name` and returns its path.
    @discardableResult
    static func write(_ text: String, _ name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Starts the binary; the caller waits for it.
    static func start(_ arguments: [String], in directory: URL? = nil) throws -> RunningCLI {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let running = RunningCLI(process: process, out: out, err: err)
        try process.run()
        return running
    }

    /// Runs the binary to completion (killed after `timeout` seconds, a bound, not an ordering).
    static func run(_ arguments: [String], in directory: URL? = nil, timeout: Double = 120) async throws
        -> CLIResult
    {
        let running = try start(arguments, in: directory)
        return await running.wait(timeout: timeout)
    }

    /// A minimal runnable spec (one region, embedded, short), with extra lines appended.
    static func spec(name: String = "cli-test", _ extra: String = "") -> String {
        """
        name: \(name)
        accounts: 200
        regions:
          - {name: local, replicas: 1}
        clients: 2
        warmup: 0s
        durability: none
        \(extra)
        """
    }
}

/// A started `layerbench` process whose output is collected as it arrives. Waiting suspends
/// (never blocks a thread of the test runner's pool): waiters are resumed by the reader threads
/// when the awaited text arrives or the process ends.
final class RunningCLI: @unchecked Sendable {
    let process: Process
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()
    /// Events still to come before the run is over: end of file on both pipes, and the exit.
    private var openStreams = 3
    private var textWaiters: [(text: String, continuation: CheckedContinuation<Bool, Never>)] = []
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []

    init(process: Process, out: Pipe, err: Pipe) {
        self.process = process
        // One reader thread per pipe, each reading until end of file (the process exited and
        // closed it), so `wait` returns every byte written.
        Thread.detachNewThread { [self] in self.drain(out.fileHandleForReading, isError: false) }
        Thread.detachNewThread { [self] in self.drain(err.fileHandleForReading, isError: true) }
        process.terminationHandler = { [self] _ in self.closeStream() }
    }

    private func drain(_ handle: FileHandle, isError: Bool) {
        while true {
            let data = handle.availableData
            if data.isEmpty { break }
            let ready = lock.withLock { () -> [CheckedContinuation<Bool, Never>] in
                if isError { errData.append(data) } else { outData.append(data) }
                return takeTextWaiters(finished: false)
            }
            for continuation in ready { continuation.resume(returning: true) }
        }
        closeStream()
    }

    /// Counts one of the three ending events; the last resumes every waiter.
    private func closeStream() {
        let (texts, exits) = lock.withLock {
            () -> ([CheckedContinuation<Bool, Never>], [CheckedContinuation<Void, Never>]) in
            openStreams -= 1
            guard openStreams == 0 else { return ([], []) }
            let exits = exitWaiters
            exitWaiters = []
            return (takeTextWaiters(finished: true), exits)
        }
        for continuation in texts { continuation.resume(returning: false) }
        for continuation in exits { continuation.resume() }
    }

    /// Removes and returns the waiters whose text has arrived (all of them once the output ended).
    private func takeTextWaiters(finished: Bool) -> [CheckedContinuation<Bool, Never>] {
        let text = String(decoding: errData, as: UTF8.self)
        var ready: [CheckedContinuation<Bool, Never>] = []
        textWaiters.removeAll { waiter in
            guard finished || text.contains(waiter.text) else { return false }
            ready.append(waiter.continuation)
            return true
        }
        return ready
    }

    /// Standard error so far.
    var stderrSoFar: String { lock.withLock { String(decoding: errData, as: UTF8.self) } }

    /// Suspends until standard error contains `text` (true) or the process ended without it (false).
    func waitForStderr(containing text: String) async -> Bool {
        let arrived = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumeNow: Bool? = lock.withLock {
                if String(decoding: errData, as: UTF8.self).contains(text) { return true }
                if openStreams == 0 { return false }
                textWaiters.append((text, continuation))
                return nil
            }
            if let resumeNow { continuation.resume(returning: resumeNow) }
        }
        return arrived && stderrSoFar.contains(text)
    }

    /// Sends a signal.
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Suspends until the process exits and its output is read; the process is killed if it is
    /// still running after `timeout` seconds (a bound on a hung binary, not an ordering).
    func wait(timeout: Double) async -> CLIResult {
        let pid = process.processIdentifier
        let process = self.process
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if process.isRunning { kill(pid, SIGKILL) }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if openStreams == 0 { return true }
                exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        return lock.withLock {
            CLIResult(
                status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                stderr: String(decoding: errData, as: UTF8.self))
        }
    }
}

/// A small tmpfs mounted for one test: the only way to make a directory unwritable for root (who
/// ignores permission bits) or to run a file system out of space. Needs root and a sandbox that
/// allows `mount`; tests that need it are disabled, with this reason shown, where it cannot.
enum TinyMount {
    /// Whether this process can mount a tmpfs (checked once, by mounting and unmounting one).
    static let available: Bool = {
        guard getuid() == 0, let probe = try? CLI.scratch("tinymount-probe") else { return false }
        defer { try? FileManager.default.removeItem(at: probe) }
        guard (try? mount(probe, options: "size=64k")) != nil else { return false }
        unmount(probe)
        return true
    }()

    /// Mounts a tmpfs with `options` (`ro`, `size=64k`) on `directory`.
    static func mount(_ directory: URL, options: String) throws {
        let status = try command("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", directory.path])
        if status != 0 { throw CocoaError(.fileWriteNoPermission) }
    }

    /// Unmounts what `mount` mounted on `directory`.
    static func unmount(_ directory: URL) {
        _ = try? command("/bin/umount", [directory.path])
    }

    private static func command(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
