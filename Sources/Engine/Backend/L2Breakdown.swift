import Runtime

/// Where a transfer's L2 time went, on its critical path (DESIGN.md, "Per-layer latency"): the
/// L2 spans of its trace, nanoseconds each. They add up to the result's `l2Nanos`.
public struct L2Breakdown: Sendable, Hashable, Codable {
    /// Acquiring the timestamp: the HLC read, or the round trip to the timestamp oracle.
    public var timestamp: UInt64 = 0
    /// The client's gateway forwarding to the global coordinator and the reply (locality off).
    public var gateway: UInt64 = 0
    /// Network hops between the coordinator and its participants' leaders (2PC rounds' messages).
    public var network: UInt64 = 0
    /// Waiting for followers beyond the leader's own log write (sync replication).
    public var replication: UInt64 = 0
    /// Making the coordinator's decision durable (the transaction record's Raft commit).
    public var decision: UInt64 = 0
    /// Commit-timestamp pushes.
    public var push: UInt64 = 0
    /// Finding a region's leader (redirects, elections).
    public var redirect: UInt64 = 0

    /// No L2 time.
    public init() {}

    /// The L2 spans of `trace`.
    public init(_ trace: Trace) {
        timestamp = trace[.timestamp]
        gateway = trace[.gatewayHop]
        network = trace[.coordination]
        replication = trace[.replication]
        decision = trace[.decision]
        push = trace[.timestampPush]
        redirect = trace[.redirect]
    }

    /// The sum of the spans.
    public var total: UInt64 { timestamp &+ gateway &+ network &+ replication &+ decision &+ push &+ redirect }
}
