extension WANProxy {
    /// What a proxy listens on, where it forwards, and the link it emulates.
    public struct Configuration: Sendable, Equatable {
        /// The address to listen on (loopback by default).
        public var listenHost: String
        /// The port to listen on; 0 picks a free one (read it from `WANProxy.port`).
        public var listenPort: Int
        /// The server every accepted connection is forwarded to.
        public var upstreamHost: String
        /// The server's port.
        public var upstreamPort: Int
        /// The delay added to each direction: half the round trip the link stands for.
        public var oneWayDelay: Duration
        /// The bound of the uniform jitter added to each chunk's delay (`0...jitter`); order is kept.
        public var jitter: Duration
        /// The seed of the jitter; connection `n`'s directions derive their generators from it.
        public var seed: UInt64
        /// The window of each direction of each connection: reading from a side stops when this many of
        /// its bytes are delayed or not yet taken by the far side, and resumes at half of it.
        public var maxBytesInFlight: Int
        /// Event loop threads of the proxy's own group (ignored when `start` is given a group).
        public var threads: Int

        /// The window's default: 4 MiB, which carries 400 MB/s at a 10 ms one-way delay.
        public static let defaultMaxBytesInFlight = 4 << 20

        /// A proxy on `listenHost:listenPort` (0: any free port) in front of `upstreamHost:upstreamPort`,
        /// delaying each direction by `oneWayDelay` plus up to `jitter`, drawn from `seed`.
        public init(
            listenHost: String = "127.0.0.1",
            listenPort: Int = 0,
            upstreamHost: String = "127.0.0.1",
            upstreamPort: Int,
            oneWayDelay: Duration = .zero,
            jitter: Duration = .zero,
            seed: UInt64 = 0,
            maxBytesInFlight: Int = Configuration.defaultMaxBytesInFlight,
            threads: Int = 1
        ) {
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.upstreamHost = upstreamHost
            self.upstreamPort = upstreamPort
            self.oneWayDelay = oneWayDelay
            self.jitter = jitter
            self.seed = seed
            self.maxBytesInFlight = maxBytesInFlight
            self.threads = threads
        }

        /// Whether listening on `port` would make the proxy its own upstream.
        func isOwnUpstream(port: Int) -> Bool {
            guard port != 0, port == upstreamPort else { return false }
            let loopback: Set = ["127.0.0.1", "localhost"]
            return listenHost == upstreamHost || (loopback.contains(listenHost) && loopback.contains(upstreamHost))
        }

        /// Throws naming the first field that could never work.
        func validate() throws(WANProxyError) {
            guard (0...65_535).contains(listenPort) else {
                throw WANProxyError.invalidConfiguration("listen port \(listenPort) is not in 0...65535")
            }
            guard (1...65_535).contains(upstreamPort) else {
                throw WANProxyError.invalidConfiguration("upstream port \(upstreamPort) is not in 1...65535")
            }
            guard !upstreamHost.isEmpty else { throw WANProxyError.invalidConfiguration("upstream host is empty") }
            guard !isOwnUpstream(port: listenPort) else {
                throw WANProxyError.invalidConfiguration(
                    "the proxy would be its own upstream (\(listenHost):\(listenPort)): every connection would "
                        + "open another")
            }
            guard oneWayDelay >= .zero else {
                throw WANProxyError.invalidConfiguration("one-way delay \(oneWayDelay) is negative")
            }
            guard jitter >= .zero else { throw WANProxyError.invalidConfiguration("jitter \(jitter) is negative") }
            guard maxBytesInFlight > 0 else {
                throw WANProxyError.invalidConfiguration("maxBytesInFlight \(maxBytesInFlight) is not positive")
            }
            guard threads > 0 else { throw WANProxyError.invalidConfiguration("threads \(threads) is not positive") }
        }
    }
}

/// Why a proxy could not start.
public enum WANProxyError: Error, Equatable, CustomStringConvertible {
    /// A configuration field that could never work, named.
    case invalidConfiguration(String)
    /// The listening socket could not be bound.
    case cannotListen(host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "WAN proxy: \(reason)"
        case .cannotListen(let host, let port, let reason): "WAN proxy: cannot listen on \(host):\(port): \(reason)"
        }
    }
}
