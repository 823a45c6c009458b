import NIOCore
import NIOEmbedded
import Testing

@testable import WANProxy

/// The handler pair on two `EmbeddedChannel`s sharing one `EmbeddedEventLoop`: time is the loop's
/// virtual time, moved by `advanceTime`, so every check here is exact.
@Suite("Forwarding handlers on an embedded event loop")
struct ForwardingHandlerTests {
    private struct Pair {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let upstream: EmbeddedChannel
        let counters = ProxyCounters()

        init(delay: TimeAmount, jitter: TimeAmount = .zero, window: Int = 1 << 20, seed: UInt64 = 0) throws {
            let link = LinkParameters(
                delayNanos: UInt64(delay.nanoseconds), jitterNanos: UInt64(jitter.nanoseconds), maxBytesInFlight: window
            )
            let toUpstream = ForwardingHandler(direction: .clientToUpstream, link: link, seed: seed, counters: counters)
            let toClient = ForwardingHandler(direction: .upstreamToClient, link: link, seed: ~seed, counters: counters)
            ForwardingHandler.link(toUpstream, toClient)
            client = EmbeddedChannel(handler: toUpstream, loop: loop)
            upstream = EmbeddedChannel(handler: toClient, loop: loop)
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
            client.connect(to: address, promise: nil)
            upstream.connect(to: address, promise: nil)
        }

        /// Everything written to `channel` so far, chunk by chunk.
        func drained(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
            var chunks: [[UInt8]] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                chunks.append(Array(buffer.readableBytesView))
            }
            return chunks
        }
    }

    @Test("bytes written by the client reach the upstream exactly one delay later")
    func delayIsExact() throws {
        let pair = try Pair(delay: .milliseconds(10))
        try pair.client.writeInbound(ByteBuffer(string: "query"))
        #expect(try pair.drained(pair.upstream).isEmpty)
        pair.loop.advanceTime(by: .nanoseconds(10_000_000 - 1))
        #expect(try pair.drained(pair.upstream).isEmpty)
        pair.loop.advanceTime(by: .nanoseconds(1))
        #expect(try pair.drained(pair.upstream) == [Array("query".utf8)])
        // And back: the reply takes the same delay the other way.
        try pair.upstream.writeInbound(ByteBuffer(string: "rows"))
        pair.loop.advanceTime(by: .nanoseconds(10_000_000 - 1))
        #expect(try pair.drained(pair.client).isEmpty)
        pair.loop.advanceTime(by: .nanoseconds(1))
        #expect(try pair.drained(pair.client) == [Array("rows".utf8)])
        let counters = pair.counters.snapshot
        #expect(counters.bytesClientToUpstream == 5)
        #expect(counters.bytesUpstreamToClient == 4)
        #expect(counters.totalDelayNanos == 20_000_000)
        #expect(counters.chunksForwarded == 2)
    }

    @Test("with jitter, chunks keep their order and none leaves before arrival + delay", arguments: [3, 11, 2024])
    func jitterKeepsOrder(seed: UInt64) throws {
        let delay: Int64 = 5_000_000
        let jitter: Int64 = 5_000_000
        let step: Int64 = 100_000
        let pair = try Pair(delay: .nanoseconds(delay), jitter: .nanoseconds(jitter), seed: seed)
        var sent: [(chunk: [UInt8], at: Int64)] = []
        var received: [(chunk: [UInt8], at: Int64)] = []
        var now: Int64 = 0
        for index in 0..<300 {
            let chunk = Array("chunk \(index);".utf8)
            try pair.client.writeInbound(ByteBuffer(bytes: chunk))
            sent.append((chunk, now))
            pair.loop.advanceTime(by: .nanoseconds(step))
            now += step
            received += try pair.drained(pair.upstream).map { ($0, now) }
        }
        // Past the last arrival's latest release, everything is out.
        pair.loop.advanceTime(by: .nanoseconds(delay + jitter))
        now += delay + jitter
        received += try pair.drained(pair.upstream).map { ($0, now) }
        #expect(received.map(\.chunk) == sent.map(\.chunk), "seed \(seed)")
        for (index, (out, back)) in zip(sent, received).enumerated() {
            #expect(back.at >= out.at + delay, "seed \(seed): chunk \(index) left early")
        }
        #expect(pair.counters.snapshot.totalDelayNanos >= 300 * UInt64(delay), "seed \(seed)")
    }

    @Test("a client's end of input travels behind its bytes and closes the upstream's output after the delay")
    func endTravelsLikeData() throws {
        let pair = try Pair(delay: .milliseconds(3))
        try pair.client.writeInbound(ByteBuffer(string: "bye"))
        pair.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        pair.loop.advanceTime(by: .nanoseconds(3_000_000 - 1))
        #expect(pair.upstream.isActive)
        #expect(try pair.drained(pair.upstream).isEmpty)
        pair.loop.advanceTime(by: .nanoseconds(1))
        #expect(try pair.drained(pair.upstream) == [Array("bye".utf8)])
        // An EmbeddedChannel has no half-closure: the output close becomes a full close.
        pair.loop.run()
        #expect(!pair.upstream.isActive)
    }

    @Test("bytes a client sent just before closing still arrive, a delay later, and then the upstream is closed")
    func bytesOutliveTheirSide() throws {
        let pair = try Pair(delay: .milliseconds(4))
        try pair.client.writeInbound(ByteBuffer(string: "last words"))
        pair.client.close(promise: nil)
        pair.loop.run()  // the closed client's pipeline is torn down: its handler is removed
        #expect(!pair.client.isActive)
        pair.loop.advanceTime(by: .nanoseconds(4_000_000 - 1))
        #expect(try pair.drained(pair.upstream).isEmpty)
        #expect(pair.upstream.isActive)
        pair.loop.advanceTime(by: .nanoseconds(1))
        #expect(try pair.drained(pair.upstream) == [Array("last words".utf8)])
        pair.loop.run()
        #expect(!pair.upstream.isActive)
        #expect(pair.counters.snapshot.bytesClientToUpstream == 10)
    }

    @Test("reads are withheld while the window is full and resume when the far side takes the bytes")
    func readsWithheldAtWindow() throws {
        let pair = try Pair(delay: .milliseconds(1), window: 1_000)
        let reads = ReadCounter()
        try pair.client.pipeline.syncOperations.addHandler(reads, position: .first)
        pair.client.read()
        #expect(reads.count == 1)
        try pair.client.writeInbound(ByteBuffer(repeating: 7, count: 1_000))
        #expect(pair.counters.snapshot.readPauses == 1)
        pair.client.read()
        #expect(reads.count == 1)  // withheld: 1,000 bytes are on their way
        pair.loop.advanceTime(by: .milliseconds(1))  // released and written; the embedded write completes at once
        #expect(try pair.drained(pair.upstream).map(\.count) == [1_000])
        #expect(reads.count == 2)  // the withheld read was issued
        #expect(pair.counters.snapshot.maxBytesInFlight == 1_000)
    }
}

/// Counts `read` calls that reach the head of the pipeline (past the forwarding handler).
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
