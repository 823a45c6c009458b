import NIOCore
import NIOPosix
import Synchronization

/// A TCP echo server on loopback: every byte read is written back; a client's end of input closes the
/// server's output once the echo is written. Counts the connections it accepted.
final class EchoServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let accepted: Counter

    private init(port: Int, channel: any Channel, accepted: Counter) {
        self.port = port
        self.channel = channel
        self.accepted = accepted
    }

    static func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> EchoServer {
        let accepted = Counter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { child in
                accepted.value.add(1, ordering: .relaxed)
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return EchoServer(port: channel.localAddress!.port!, channel: channel, accepted: accepted)
    }

    /// Connections accepted so far.
    var acceptedConnections: Int { accepted.value.load(ordering: .relaxed) }

    func stop() async throws {
        try await channel.close()
    }

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(mode: .output, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
