import NIOCore
import NIOPosix
import Synchronization

/// A latency-injecting TCP proxy: it listens on a (loopback) port and forwards every connection to one
/// upstream server, delaying each direction by a one-way delay plus optional seeded uniform jitter, the
/// way a WAN link would. One proxy stands in front of each region's primary for clients in other regions.
///
/// Each direction of each connection is a pipe with latency, not a round trip: bytes that arrive at `t`
/// leave at `t + delay (+ jitter)`, in the order they arrived, while later bytes are already on their way;
/// so the delay does not limit bandwidth. What bounds memory is a window per direction
/// (`Configuration.maxBytesInFlight`): reading a side stops while that many of its bytes are delayed or
/// not yet taken by the far side (the overshoot is at most one read burst: `maxMessagesPerRead` reads of
/// at most `receiveBufferLimit` bytes). One exception: when a side ends its output (a FIN), NIO reads
/// what is left in that socket's receive buffer at once, so the bound is then the kernel's receive
/// buffer (`net.ipv4.tcp_rmem`), not the window.
///
/// Time is the event loop's (NIO's monotonic clock), not an `EngineClock`: the loop's timers release the
/// bytes, and this target depends on swift-nio alone. Tests drive it with `EmbeddedEventLoop`'s
/// virtual time.
///
/// ```swift
/// let proxy = try await WANProxy.start(.init(upstreamHost: "127.0.0.1", upstreamPort: 5432,
///                                            oneWayDelay: .milliseconds(40)))
/// // connect clients to proxy.port ...
/// try await proxy.stop()
/// ```
///
/// `stop()` must be called: it closes the listener and every connection, and shuts down the proxy's own
/// event loop threads (a group passed to `start` is left running: its owner shuts it down).
public final class WANProxy: Sendable {
    /// What the proxy was started with.
    public let configuration: Configuration
    /// The port it listens on (the one picked when the configuration said 0).
    public let port: Int

    private let shared: ProxyShared
    private let serverChannel: any Channel
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let stopped = Mutex(false)

    private init(
        configuration: Configuration, port: Int, shared: ProxyShared, serverChannel: any Channel,
        group: any EventLoopGroup, ownsGroup: Bool
    ) {
        self.configuration = configuration
        self.port = port
        self.shared = shared
        self.serverChannel = serverChannel
        self.group = group
        self.ownsGroup = ownsGroup
    }

    /// Starts a proxy: binds its listener and returns once it accepts connections. Without a group, the
    /// proxy runs its own `configuration.threads` event loop threads and `stop` shuts them down.
    public static func start(
        _ configuration: Configuration, eventLoopGroup: (any EventLoopGroup)? = nil
    ) async throws -> WANProxy {
        try configuration.validate()
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let ownsGroup = eventLoopGroup == nil
        let shared = ProxyShared(configuration: configuration)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: ProxyShared.maxMessagesPerRead)
            .childChannelOption(.recvAllocator, value: ProxyShared.receiveAllocator)
            .childChannelInitializer { client in
                let id = shared.counters.connectionsAccepted.add(1, ordering: .relaxed).newValue
                let registered = shared.registry.register(client, id: id)
                client.closeFuture.whenComplete { _ in shared.registry.clientClosed(id) }
                guard registered else { return client.close() }
                return client.eventLoop.makeCompletedFuture {
                    try client.pipeline.syncOperations.addHandler(UpstreamConnector(proxy: shared, connectionID: id))
                }
            }
        // A port the kernel picks (listen port 0) may be the upstream's port, free a moment ago: the
        // proxy would then be its own upstream, so it binds again.
        var attempts = 0
        while true {
            attempts += 1
            let serverChannel: any Channel
            do {
                serverChannel = try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort)
                    .get()
            } catch {
                if ownsGroup { try? await group.shutdownGracefully() }
                throw WANProxyError.cannotListen(
                    host: configuration.listenHost, port: configuration.listenPort, reason: "\(error)")
            }
            let port = serverChannel.localAddress?.port
            guard let port, !configuration.isOwnUpstream(port: port) else {
                try? await serverChannel.close()
                if port != nil && attempts < 8 { continue }
                if ownsGroup { try? await group.shutdownGracefully() }
                throw WANProxyError.cannotListen(
                    host: configuration.listenHost, port: configuration.listenPort,
                    reason: port == nil ? "no local port" : "only the upstream's own port was offered")
            }
            return WANProxy(
                configuration: configuration, port: port, shared: shared, serverChannel: serverChannel, group: group,
                ownsGroup: ownsGroup)
        }
    }

    /// The counters since start.
    public var counters: Counters { shared.counters.snapshot }

    /// Closes the listener and every connection (without waiting for delayed bytes), waits until all are
    /// closed, then shuts down the proxy's own event loop threads. A second call does nothing.
    public func stop() async throws {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        // From here on, a channel that registers closes itself; then no new client is accepted.
        shared.registry.beginStop()
        try? await serverChannel.close()
        for channel in shared.registry.openChannels() { channel.close(promise: nil) }
        await shared.registry.waitUntilEmpty()
        if ownsGroup { try await group.shutdownGracefully() }
    }

    /// Connections not yet finished (for tests of `stop`).
    package var unfinishedConnections: Int { shared.registry.count }

    /// The description of the proxy's own event loop group, which names its threads' pattern
    /// (`threadPattern = NIO-ELT-<group>-#*`); nil with a group from outside. For tests that check that
    /// `stop` leaves no thread behind.
    package var ownedEventLoopGroupDescription: String? { ownsGroup ? "\(group)" : nil }
}

/// What every connection of one proxy shares: its configuration, link, counters and registry.
final class ProxyShared: Sendable {
    /// Reads per `read()` call (a read burst); with `receiveBufferLimit` it bounds the window's overshoot.
    static let maxMessagesPerRead: UInt = 4
    /// The largest single read.
    static let receiveBufferLimit = 64 * 1024
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(
        minimum: 64, initial: 2048, maximum: receiveBufferLimit)

    let configuration: WANProxy.Configuration
    let link: LinkParameters
    let counters = ProxyCounters()
    let registry: ConnectionRegistry

    init(configuration: WANProxy.Configuration) {
        self.configuration = configuration
        self.link = LinkParameters(
            delayNanos: configuration.oneWayDelay.proxyNanoseconds,
            jitterNanos: configuration.jitter.proxyNanoseconds,
            maxBytesInFlight: configuration.maxBytesInFlight)
        self.registry = ConnectionRegistry(counters: counters)
    }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to `0...UInt64.max`.
    var proxyNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
