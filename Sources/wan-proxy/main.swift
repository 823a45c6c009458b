// wan-proxy: runs one WANProxy until SIGINT or SIGTERM (used by scripts/proxy-overhead).
//
//   wan-proxy --upstream HOST:PORT [--listen PORT] [--delay-ms MS] [--jitter-ms MS] [--seed N] [--threads N]
//
// Prints `listening 127.0.0.1:PORT` once it accepts connections, and its counters when it stops.
import Dispatch
import WANProxy

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

func fail(_ message: String) -> Never {
    let line = Array("wan-proxy: \(message)\n".utf8)
    _ = line.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func parse(_ arguments: [String]) -> WANProxy.Configuration {
    var upstream: (String, Int)?
    var listenPort = 0
    var delayMicros = 0
    var jitterMicros = 0
    var seed: UInt64 = 0
    var threads = 1
    var index = 0
    func value(_ name: String) -> String {
        index += 1
        guard index < arguments.count else { fail("\(name) needs a value") }
        return arguments[index]
    }
    func milliseconds(_ name: String) -> Int {
        let text = value(name)
        guard let ms = Double(text), ms >= 0, ms < 1e7 else { fail("\(name): '\(text)' is not a delay in ms") }
        return Int((ms * 1000).rounded())
    }
    while index < arguments.count {
        let name = arguments[index]
        switch name {
        case "--upstream":
            let text = value(name)
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                fail("--upstream: '\(text)' is not HOST:PORT")
            }
            upstream = (String(text[..<colon]), port)
        case "--listen":
            guard let port = Int(value(name)) else { fail("--listen needs a port (0: any)") }
            listenPort = port
        case "--delay-ms": delayMicros = milliseconds(name)
        case "--jitter-ms": jitterMicros = milliseconds(name)
        case "--seed":
            guard let parsed = UInt64(value(name)) else { fail("--seed needs an unsigned integer") }
            seed = parsed
        case "--threads":
            guard let parsed = Int(value(name)), parsed > 0 else { fail("--threads needs a positive integer") }
            threads = parsed
        default: fail("unknown argument '\(name)'")
        }
        index += 1
    }
    guard let upstream else { fail("--upstream HOST:PORT is required") }
    return WANProxy.Configuration(
        listenPort: listenPort, upstreamHost: upstream.0, upstreamPort: upstream.1,
        oneWayDelay: .microseconds(delayMicros), jitter: .microseconds(jitterMicros), seed: seed, threads: threads)
}

/// Turns SIGINT and SIGTERM into elements of a stream (the sources must be kept alive).
nonisolated func catchStopSignals() -> (AsyncStream<Void>, [any DispatchSourceSignal]) {
    let (signals, continuation) = AsyncStream<Void>.makeStream()
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let sources = [SIGINT, SIGTERM].map { number in
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    return (signals, sources)
}

let configuration = parse(Array(CommandLine.arguments.dropFirst()))
// SIGINT and SIGTERM stop the proxy; they are caught before it listens, so none is lost.
let (signals, signalSources) = catchStopSignals()
do {
    let proxy = try await WANProxy.start(configuration)
    print("listening \(configuration.listenHost):\(proxy.port)")
    fflush(nil)
    for await _ in signals { break }
    for source in signalSources { source.cancel() }
    try await proxy.stop()
    let c = proxy.counters
    print(
        "connections \(c.connectionsAccepted) upstream_failures \(c.upstreamConnectFailures) "
            + "bytes_to_upstream \(c.bytesClientToUpstream) bytes_to_client \(c.bytesUpstreamToClient) "
            + "delay_ns \(c.totalDelayNanos) read_pauses \(c.readPauses)")
} catch {
    fail("\(error)")
}
