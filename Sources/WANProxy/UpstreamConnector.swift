import NIOCore
import NIOPosix

/// The first handler of an accepted client channel: when the client is active, it connects to the
/// upstream server on the client's event loop, links a pair of `ForwardingHandler`s across the two
/// channels, and only then turns reading on for both (nothing is read from either side before the
/// pair exists). A failed connect is counted and closes the client.
///
/// One exception to "nothing is read": when a client's end of input arrives, NIO reads everything left
/// in the socket at once, read requested or not. What arrives that way before the link exists is kept
/// here (at most the socket's receive buffer) and handed to the forwarding handler, end included.
final class UpstreamConnector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let proxy: ProxyShared
    private let connectionID: UInt64
    private var early = CircularBuffer<ByteBuffer>()
    private var earlyEnd = false

    init(proxy: ProxyShared, connectionID: UInt64) {
        self.proxy = proxy
        self.connectionID = connectionID
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        let client = context.channel
        let configuration = proxy.configuration
        let link = proxy.link
        let seed = configuration.seed ^ (connectionID &* 0x9E37_79B9_7F4A_7C15)
        let toUpstream = ForwardingHandler(
            direction: .clientToUpstream, link: link, seed: seed, counters: proxy.counters)
        let toClient = ForwardingHandler(
            direction: .upstreamToClient, link: link, seed: seed ^ 0xD1B5_4A32_D192_ED03, counters: proxy.counters)
        ForwardingHandler.link(toUpstream, toClient)
        let toClientBox = NIOLoopBound(toClient, eventLoop: context.eventLoop)
        let registry = proxy.registry
        let id = connectionID
        registry.upstreamStarted(id)

        let connect = ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.maxMessagesPerRead, value: ProxyShared.maxMessagesPerRead)
            .channelOption(.recvAllocator, value: ProxyShared.receiveAllocator)
            .connectTimeout(.seconds(10))
            .channelInitializer { upstream in
                // Registered before the connect completes, so that `stop` sees (and closes) it.
                if !registry.setUpstream(upstream, of: id) { upstream.close(promise: nil) }
                return upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(toClientBox.value)
                }
            }
            .connect(host: configuration.upstreamHost, port: configuration.upstreamPort)

        let counters = proxy.counters
        // The connect runs on the client's loop, so its future completes there.
        connect.assumeIsolated().whenComplete { result in
            switch result {
            case .failure:
                ForwardingHandler.unlink(toUpstream)
                counters.upstreamConnectFailed()
                registry.upstreamFinished(id)
                client.close(promise: nil)
            case .success(let upstream):
                upstream.closeFuture.whenComplete { _ in registry.upstreamFinished(id) }
                guard client.isActive, upstream.isActive else {
                    ForwardingHandler.unlink(toUpstream)
                    upstream.close(promise: nil)
                    client.close(promise: nil)
                    return
                }
                do {
                    try context.pipeline.syncOperations.addHandler(toUpstream)
                    self.handOver(context: context)
                    try client.syncOptions?.setOption(.autoRead, value: true)
                    try upstream.syncOptions?.setOption(.autoRead, value: true)
                } catch {
                    ForwardingHandler.unlink(toUpstream)
                    upstream.close(promise: nil)
                    client.close(promise: nil)
                }
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        early.append(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            earlyEnd = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Passes what arrived early to the forwarding handler behind this one, then leaves the pipeline.
    private func handOver(context: ChannelHandlerContext) {
        let hadData = !early.isEmpty
        while let buffer = early.popFirst() { context.fireChannelRead(wrapInboundOut(buffer)) }
        if hadData { context.fireChannelReadComplete() }
        if earlyEnd { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
