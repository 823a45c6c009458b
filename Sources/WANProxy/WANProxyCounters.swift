import Synchronization

extension WANProxy {
    /// A snapshot of a proxy's counters since it started.
    public struct Counters: Sendable, Equatable {
        /// Client connections accepted.
        public var connectionsAccepted: UInt64 = 0
        /// Client connections closed (accepted minus closed is the number open).
        public var connectionsClosed: UInt64 = 0
        /// Connections to the upstream server that failed (each closed its client connection).
        public var upstreamConnectFailures: UInt64 = 0
        /// Bytes forwarded from clients to the upstream server.
        public var bytesClientToUpstream: UInt64 = 0
        /// Bytes forwarded from the upstream server to clients.
        public var bytesUpstreamToClient: UInt64 = 0
        /// Delay injected client to upstream: the sum over forwarded chunks of release minus arrival time.
        public var delayNanosClientToUpstream: UInt64 = 0
        /// Delay injected upstream to client, likewise.
        public var delayNanosUpstreamToClient: UInt64 = 0
        /// Chunks forwarded, both directions.
        public var chunksForwarded: UInt64 = 0
        /// Times a side stopped being read because its direction's window was full (backpressure).
        public var readPauses: UInt64 = 0
        /// The most bytes one direction of one connection ever had in flight.
        public var maxBytesInFlight: UInt64 = 0

        /// Client connections open now.
        public var connectionsOpen: UInt64 { connectionsAccepted - min(connectionsAccepted, connectionsClosed) }

        /// The delay injected in both directions.
        public var totalDelayNanos: UInt64 { delayNanosClientToUpstream &+ delayNanosUpstreamToClient }
    }
}

/// The direction of a byte stream through the proxy.
enum ProxyDirection: Sendable {
    case clientToUpstream
    case upstreamToClient
}

/// The live counters, updated from every event loop without a lock.
final class ProxyCounters: Sendable {
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsClosed = Atomic<UInt64>(0)
    let upstreamConnectFailures = Atomic<UInt64>(0)
    let bytesClientToUpstream = Atomic<UInt64>(0)
    let bytesUpstreamToClient = Atomic<UInt64>(0)
    let delayNanosClientToUpstream = Atomic<UInt64>(0)
    let delayNanosUpstreamToClient = Atomic<UInt64>(0)
    let chunksForwarded = Atomic<UInt64>(0)
    let readPauses = Atomic<UInt64>(0)
    let maxBytesInFlight = Atomic<UInt64>(0)

    /// Counts one forwarded chunk of `bytes` that was delayed by `delayNanos`.
    func forwarded(_ direction: ProxyDirection, bytes: Int, delayNanos: UInt64) {
        switch direction {
        case .clientToUpstream:
            bytesClientToUpstream.add(UInt64(bytes), ordering: .relaxed)
            delayNanosClientToUpstream.add(delayNanos, ordering: .relaxed)
        case .upstreamToClient:
            bytesUpstreamToClient.add(UInt64(bytes), ordering: .relaxed)
            delayNanosUpstreamToClient.add(delayNanos, ordering: .relaxed)
        }
        chunksForwarded.add(1, ordering: .relaxed)
    }

    /// Counts a side whose reading stopped because its window filled.
    func pausedReading() {
        readPauses.add(1, ordering: .relaxed)
    }

    /// Counts a failed connect to the upstream server.
    func upstreamConnectFailed() {
        upstreamConnectFailures.add(1, ordering: .relaxed)
    }

    /// Raises the high-water mark of bytes in flight to `bytes` if it is higher.
    func observeInFlight(_ bytes: Int) {
        maxBytesInFlight.max(UInt64(bytes), ordering: .relaxed)
    }

    var snapshot: WANProxy.Counters {
        WANProxy.Counters(
            connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
            connectionsClosed: connectionsClosed.load(ordering: .relaxed),
            upstreamConnectFailures: upstreamConnectFailures.load(ordering: .relaxed),
            bytesClientToUpstream: bytesClientToUpstream.load(ordering: .relaxed),
            bytesUpstreamToClient: bytesUpstreamToClient.load(ordering: .relaxed),
            delayNanosClientToUpstream: delayNanosClientToUpstream.load(ordering: .relaxed),
            delayNanosUpstreamToClient: delayNanosUpstreamToClient.load(ordering: .relaxed),
            chunksForwarded: chunksForwarded.load(ordering: .relaxed),
            readPauses: readPauses.load(ordering: .relaxed),
            maxBytesInFlight: maxBytesInFlight.load(ordering: .relaxed))
    }
}
