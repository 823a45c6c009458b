import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import WANProxy

/// A real proxy on loopback in front of an echo server; clients on NIO's shared group. No assertion
/// depends on how fast anything runs: the only timing check is a lower bound (a round trip through a
/// delaying proxy cannot be shorter than the delays it adds).
@Suite("WAN proxy on loopback")
struct WANProxyTests {
    @Test(
        "an echo behind the proxy returns exactly the bytes sent, on many concurrent connections",
        arguments: [
            (delayMs: 0, jitterMs: 0, seed: UInt64(1)),
            (delayMs: 1, jitterMs: 2, seed: UInt64(77)),
        ])
    func echoManyConnections(delayMs: Int, jitterMs: Int, seed: UInt64) async throws {
        let echo = try await EchoServer.start()
        let proxy = try await WANProxy.start(
            .init(
                upstreamPort: echo.port, oneWayDelay: .milliseconds(delayMs), jitter: .milliseconds(jitterMs),
                seed: seed))
        let connections = 16
        var random = JitterRandom(seed: seed)
        let payloads = (0..<connections).map { _ in
            Payload.random(bytes: 64 * 1024 + Int(random.next() % (448 * 1024)), using: &random)
        }
        let replies = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for (index, payload) in payloads.enumerated() {
                group.addTask { (index, try await Client.exchange(port: proxy.port, chunks: payload.chunks)) }
            }
            var replies = [[UInt8]](repeating: [], count: connections)
            for try await (index, reply) in group { replies[index] = reply }
            return replies
        }
        for (index, payload) in payloads.enumerated() {
            #expect(replies[index].count == payload.bytes.count, "seed \(seed): connection \(index)")
            #expect(
                replies[index] == payload.bytes, "seed \(seed): connection \(index) bytes differ or are out of order")
        }
        try await proxy.stop()
        try await echo.stop()
        let total = UInt64(payloads.reduce(0) { $0 + $1.bytes.count })
        let counters = proxy.counters
        #expect(counters.connectionsAccepted == UInt64(connections))
        #expect(counters.connectionsOpen == 0)
        #expect(counters.upstreamConnectFailures == 0)
        #expect(counters.bytesClientToUpstream == total, "seed \(seed)")
        #expect(counters.bytesUpstreamToClient == total, "seed \(seed)")
        if delayMs > 0 {
            #expect(counters.totalDelayNanos >= counters.chunksForwarded * UInt64(delayMs) * 1_000_000)
        } else {
            #expect(counters.totalDelayNanos == 0)
        }
    }

    @Test("a round trip through the proxy takes at least the configured round-trip time", arguments: [0, 5])
    func roundTripAtLeastRTT(jitterMs: Int) async throws {
        let echo = try await EchoServer.start()
        let oneWay: Int64 = 20_000_000
        let proxy = try await WANProxy.start(
            .init(upstreamPort: echo.port, oneWayDelay: .nanoseconds(oneWay), jitter: .milliseconds(jitterMs), seed: 5))
        let trips = 5
        let roundTrips = try await Client.pingPong(port: proxy.port, trips: trips)
        try await proxy.stop()
        try await echo.stop()
        #expect(roundTrips.count == trips)
        for (index, nanos) in roundTrips.enumerated() {
            #expect(nanos >= 2 * oneWay, "round trip \(index) took \(nanos) ns, less than the 40 ms RTT")
        }
        let counters = proxy.counters
        #expect(counters.chunksForwarded == UInt64(2 * trips))
        if jitterMs == 0 {
            // No jitter: every chunk waited exactly the one-way delay.
            #expect(counters.totalDelayNanos == UInt64(2 * trips) * UInt64(oneWay))
        } else {
            #expect(counters.totalDelayNanos >= UInt64(2 * trips) * UInt64(oneWay))
        }
    }

    /// While the connection is open. (After a peer's end of input, NIO reads what is left in the socket's
    /// receive buffer at once, so the bound is then the kernel's receive buffer; hence `endAfterEcho`.)
    @Test("a full window stops reading: bytes in flight stay within the window plus one read burst")
    func backpressureBoundsInFlight() async throws {
        let echo = try await EchoServer.start()
        let window = 64 * 1024
        let proxy = try await WANProxy.start(
            .init(upstreamPort: echo.port, oneWayDelay: .milliseconds(2), maxBytesInFlight: window))
        var random = JitterRandom(seed: 99)
        let payload = Payload.random(bytes: 4 << 20, using: &random)
        let reply = try await Client.exchange(port: proxy.port, chunks: payload.chunks, endAfterEcho: true)
        try await proxy.stop()
        try await echo.stop()
        #expect(reply == payload.bytes)
        let counters = proxy.counters
        #expect(counters.readPauses > 0)
        let burst = Int(ProxyShared.maxMessagesPerRead) * ProxyShared.receiveBufferLimit
        #expect(counters.maxBytesInFlight <= UInt64(window + burst), "in flight \(counters.maxBytesInFlight)")
        #expect(counters.bytesClientToUpstream == UInt64(payload.bytes.count))
        #expect(counters.bytesUpstreamToClient == UInt64(payload.bytes.count))
    }

    @Test("stop with connections open closes them all, the listener, and the proxy's threads")
    func stopLeavesNothingRunning() async throws {
        let echo = try await EchoServer.start()
        let proxy = try await WANProxy.start(.init(upstreamPort: echo.port, oneWayDelay: .milliseconds(1)))
        let description = try #require(proxy.ownedEventLoopGroupDescription)
        let threadPrefix = try #require(Threads.namePrefix(fromGroupDescription: description))
        #expect(Threads.named(withPrefix: threadPrefix) > 0, "no thread named \(threadPrefix)* before stop")

        let connections = 8
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<connections {
                group.addTask { try await Client.holdOpen(port: proxy.port, ready: readyContinuation) }
            }
            // Every connection made a round trip through to the echo server and is held open.
            var readyCount = 0
            for await _ in ready {
                readyCount += 1
                if readyCount == connections { break }
            }
            #expect(proxy.counters.connectionsOpen == UInt64(connections))
            #expect(proxy.unfinishedConnections == connections)

            try await proxy.stop()
            #expect(proxy.unfinishedConnections == 0)
            #expect(proxy.counters.connectionsOpen == 0)
            #expect(proxy.counters.connectionsAccepted == UInt64(connections))
            #expect(Threads.named(withPrefix: threadPrefix) == 0, "threads \(threadPrefix)* left after stop")
            var ended = 0
            for try await endedWithoutData in group where endedWithoutData { ended += 1 }
            #expect(ended == connections)
        }
        // The listener is gone: a connection to its port is refused, or (when another test's server
        // took the freed port meanwhile) reaches someone else, never this proxy.
        let accepted = proxy.counters.connectionsAccepted
        if let late = try? await Client.open(port: proxy.port) {
            try await late.executeThenClose { _, _ in }
        }
        #expect(proxy.counters.connectionsAccepted == accepted)
        try await proxy.stop()  // a second stop does nothing
        try await echo.stop()
    }

    @Test("an upstream that refuses connections closes the client's connection, and the failure is counted")
    func refusedUpstream() async throws {
        // A port bound but not listening refuses connections, and nobody else (another test's
        // server) can take it while the socket holds it: a port closed again could be reused.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(holder >= 0)
        defer { close(holder) }
        var address = LoopbackAddress.bytes(port: 0)
        var length = socklen_t(address.count)
        let bound = address.withUnsafeBytes { raw in
            bind(holder, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
        try #require(bound == 0)
        let named = address.withUnsafeMutableBytes { raw in
            getsockname(holder, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        try #require(named == 0)
        let refusingPort = LoopbackAddress.port(of: address)

        let proxy = try await WANProxy.start(.init(upstreamPort: refusingPort))
        #expect(proxy.port != refusingPort)  // the proxy never listens on its own upstream port
        #expect(try await Client.endsWithoutData(port: proxy.port))
        try await proxy.stop()
        let counters = proxy.counters
        #expect(counters.connectionsAccepted == 1)
        #expect(counters.upstreamConnectFailures == 1)
        #expect(counters.connectionsOpen == 0)
        #expect(counters.bytesClientToUpstream == 0)
    }

    @Test(
        "bytes and an end of input that arrive before the upstream connection exists are forwarded, not lost",
        .timeLimit(.minutes(1)))
    func earlyBytesAndEnd() async throws {
        let echo = try await EchoServer.start()
        let proxyGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let proxy = try await WANProxy.start(.init(upstreamPort: echo.port), eventLoopGroup: proxyGroup)
        // Hold the proxy's only loop while a client connects, sends and ends its input: when the loop
        // runs again, all of it is in the kernel before the proxy has even accepted the connection.
        let hold = DispatchSemaphore(value: 0)
        proxyGroup.next().execute { hold.wait() }
        var random = JitterRandom(seed: 31)
        let payload = Payload.random(bytes: 20_000, using: &random).bytes
        let client = try BlockingSocket(port: proxy.port)
        try client.sendAll(payload)
        client.endOutput()
        hold.signal()
        let reply = client.readToEnd()
        #expect(reply?.count == payload.count)
        #expect(reply == payload)
        try await proxy.stop()
        try await proxyGroup.shutdownGracefully()
        try await echo.stop()
        #expect(proxy.counters.bytesClientToUpstream == UInt64(payload.count))
    }

    @Test("a configuration that could never work is refused, naming the field")
    func invalidConfiguration() async throws {
        await #expect(throws: WANProxyError.invalidConfiguration("upstream port 0 is not in 1...65535")) {
            _ = try await WANProxy.start(.init(upstreamPort: 0))
        }
        await #expect(throws: WANProxyError.invalidConfiguration("maxBytesInFlight 0 is not positive")) {
            _ = try await WANProxy.start(.init(upstreamPort: 5432, maxBytesInFlight: 0))
        }
        await #expect(throws: WANProxyError.invalidConfiguration("one-way delay -1.0 seconds is negative")) {
            _ = try await WANProxy.start(.init(upstreamPort: 5432, oneWayDelay: .seconds(-1)))
        }
    }

    @Test("a proxy that would be its own upstream is refused (it would multiply connections without end)")
    func ownUpstreamRefused() async throws {
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()
        await #expect(throws: WANProxyError.self) {
            let proxy = try await WANProxy.start(.init(listenPort: port, upstreamPort: port))
            try await proxy.stop()
        }
    }

    @Test("a busy listen port is reported with host, port and reason")
    func busyListenPort() async throws {
        let echo = try await EchoServer.start()
        let proxy = try await WANProxy.start(.init(upstreamPort: echo.port))
        await #expect {
            _ = try await WANProxy.start(.init(listenPort: proxy.port, upstreamPort: echo.port))
        } throws: { error in
            guard case .cannotListen(let host, let port, _) = error as? WANProxyError else { return false }
            return host == "127.0.0.1" && port == proxy.port
        }
        try await proxy.stop()
        try await echo.stop()
    }
}

// MARK: - Helpers

/// A seeded random payload and the random-sized writes it is sent in.
struct Payload {
    var bytes: [UInt8]
    var chunks: [[UInt8]]

    static func random(bytes count: Int, using random: inout JitterRandom) -> Payload {
        var bytes = [UInt8](repeating: 0, count: count)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
        var chunks: [[UInt8]] = []
        var start = 0
        while start < count {
            let size = min(count - start, 1 + Int(random.next() % 100_000))
            chunks.append(Array(bytes[start..<start + size]))
            start += size
        }
        return Payload(bytes: bytes, chunks: chunks)
    }
}

/// Client connections on NIO's shared group.
enum Client {
    static func open(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
    }

    /// Writes `chunks` while reading, and ends its output after the last chunk (or, with
    /// `endAfterEcho`, only once as many bytes came back as were sent); returns everything read until
    /// the end of input.
    static func exchange(port: Int, chunks: [[UInt8]], endAfterEcho: Bool = false) async throws -> [UInt8] {
        let total = chunks.reduce(0) { $0 + $1.count }
        return try await open(port: port).executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                group.addTask {
                    var received: [UInt8] = []
                    for try await buffer in inbound {
                        received += buffer.readableBytesView
                        if endAfterEcho && received.count >= total { outbound.finish() }
                    }
                    return received
                }
                for chunk in chunks { try await outbound.write(ByteBuffer(bytes: chunk)) }
                if !endAfterEcho { outbound.finish() }
                return try await group.next() ?? []
            }
        }
    }

    /// `trips` one-byte round trips, one after the other; the duration of each on NIO's clock (the clock
    /// the proxy's timers run on).
    static func pingPong(port: Int, trips: Int) async throws -> [Int64] {
        try await open(port: port).executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            var durations: [Int64] = []
            for trip in 0..<trips {
                let start = NIODeadline.now()
                try await outbound.write(ByteBuffer(bytes: [UInt8(trip)]))
                let reply = try await iterator.next()
                durations.append((NIODeadline.now() - start).nanoseconds)
                #expect(reply.map { Array($0.readableBytesView) } == [UInt8(trip)])
            }
            return durations
        }
    }

    /// Makes one round trip, reports `ready`, then keeps the connection open until it ends; returns
    /// whether it ended with no further data (an end of stream or a reset).
    static func holdOpen(port: Int, ready: AsyncStream<Void>.Continuation) async throws -> Bool {
        try await open(port: port).executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(bytes: [42]))
            let reply = try await iterator.next()
            #expect(reply.map { Array($0.readableBytesView) } == [42])
            ready.yield()
            return try await endsWithoutData(&iterator)
        }
    }

    /// Connects and returns whether the connection ends without any data.
    static func endsWithoutData(port: Int) async throws -> Bool {
        try await open(port: port).executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            return try await endsWithoutData(&iterator)
        }
    }

    private static func endsWithoutData(
        _ iterator: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    ) async throws -> Bool {
        do {
            return try await iterator.next() == nil
        } catch {
            return true  // a reset also ends it
        }
    }
}

/// This process's threads, by name (Linux: /proc/self/task/*/comm).
enum Threads {
    /// `NIO-ELT-7-#` from `MultiThreadedEventLoopGroup { threadPattern = NIO-ELT-7-#* }`.
    static func namePrefix(fromGroupDescription description: String) -> String? {
        guard let start = description.range(of: "threadPattern = "),
            let end = description.range(of: "*", range: start.upperBound..<description.endIndex)
        else { return nil }
        return String(description[start.upperBound..<end.lowerBound])
    }

    static func named(withPrefix prefix: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.count { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix(prefix)
        }
    }
}

/// A blocking POSIX client socket: what it sends is in the kernel when `send` returns, so a test can
/// order its bytes and its end of input against a proxy whose event loop is held.
final class BlockingSocket {
    private let fd: Int32

    /// Connects to 127.0.0.1:`port`; reads give up after `timeoutSeconds` (a failure, not a hang).
    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let address = LoopbackAddress.bytes(port: port)
        let connected = address.withUnsafeBytes { raw in
            connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(address.count))
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
    }

    deinit { close(fd) }

    func sendAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            sent += n
        }
    }

    /// Sends a FIN: the end of this side's input to the peer.
    func endOutput() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Everything until the peer's end of input (nil if a read failed or timed out first).
    func readToEnd() -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return received }
            if n < 0 { return nil }
            received += buffer[0..<n]
        }
    }
}

/// A `sockaddr_in` for 127.0.0.1 built byte by byte (family in host order, then the port and the
/// address in network order), so the tests use no C struct's members: which module re-exports
/// `sockaddr_in` differs between builds of this package's dependency graph.
enum LoopbackAddress {
    static func bytes(port: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: UInt16(AF_INET)) { family in
            bytes[0] = family[0]
            bytes[1] = family[1]
        }
        bytes[2] = UInt8(truncatingIfNeeded: port >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: port)
        bytes[4] = 127
        bytes[7] = 1
        return bytes
    }

    static func port(of bytes: [UInt8]) -> Int { Int(bytes[2]) << 8 | Int(bytes[3]) }
}
