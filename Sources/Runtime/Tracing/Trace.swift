/// The layer a span belongs to.
public enum Layer: String, Sendable, Hashable, CaseIterable, Codable {
    /// L2 distributed: clocks, 2PC rounds, replication.
    case l2 = "L2"
    /// L1 runtime: pool, transactions, locks' bookkeeping, retries, batching.
    case l1 = "L1"
    /// L0 storage: lock waits, MVCC reads and writes, WAL append and fsync.
    case l0 = "L0"
}

/// What a span of a transaction's critical path was spent on.
public enum SpanKind: Int, Sendable, Hashable, CaseIterable, Codable {
    /// L2: acquiring the transaction's timestamp (HLC or TSO).
    case timestamp
    /// L2: network hops between a transaction's coordinator and its participants' leaders (the
    /// two-phase commit rounds' messages, on the slowest participant's leg).
    case coordination
    /// L1: waiting for a session from the pool.
    case poolWait
    /// L1: begin (snapshot, registration).
    case begin
    /// L1: sleeping between attempts (exponential backoff with jitter).
    case retryBackoff
    /// L1: waiting for a batch to fill or its window to close.
    case batchWait
    /// L1: everything else the runtime and the transaction's own logic did (self time).
    case execution
    /// L0: waiting for a row lock held by another transaction.
    case lockWait
    /// L0: MVCC reads and writes (including WAL record append).
    case storageAccess
    /// L0: waiting for the commit (or prepare) record to be durable: WAL write and fsync (of a
    /// replica: the leader's Raft log append and fsync).
    case walFlush
    /// L2: waiting for replication beyond the leader's own log write: the network to the
    /// followers and their fsyncs, until a quorum has the entry (sync replication).
    case replication
    /// L2: finding the region's leader (a transfer that reached a follower or a deposed leader,
    /// or waited for an election).
    case redirect
    /// L2: the client's gateway forwarding the transfer to the global coordinator in the home
    /// region and the reply coming back (locality off).
    case gatewayHop
    /// L2: making the coordinator's decision durable (the transaction record through the
    /// coordinator region's Raft log).
    case decision
    /// L2: pushing the commit timestamp above what a participant had already issued.
    case timestampPush

    /// The layer the span is attributed to.
    public var layer: Layer {
        switch self {
        case .timestamp, .coordination, .replication, .redirect, .gatewayHop, .decision, .timestampPush: .l2
        case .poolWait, .begin, .retryBackoff, .batchWait, .execution: .l1
        case .lockWait, .storageAccess, .walFlush: .l0
        }
    }
}

/// The spans of one transaction (all its attempts), as nanoseconds per span kind.
///
/// `execution` is computed as self time: the end-to-end time minus every other span, so that
/// the three layers add up to the end-to-end latency exactly.
public struct Trace: Sendable, Hashable {
    /// Nanoseconds per `SpanKind`, indexed by its raw value.
    public private(set) var nanos: [UInt64] = Array(repeating: 0, count: SpanKind.allCases.count)

    /// An empty trace.
    public init() {}

    /// Adds `value` nanoseconds to `kind`.
    public mutating func add(_ kind: SpanKind, _ value: UInt64) {
        nanos[kind.rawValue] &+= value
    }

    /// Adds every span of `other`.
    public mutating func add(_ other: Trace) {
        for index in nanos.indices { nanos[index] &+= other.nanos[index] }
    }

    /// This trace minus an earlier state of it (the spans added since).
    public func subtracting(_ earlier: Trace) -> Trace {
        var result = self
        for index in nanos.indices { result.nanos[index] = nanos[index] &- earlier.nanos[index] }
        return result
    }

    /// This trace with its `execution` span cleared, to be closed again against a longer clock.
    public func withoutExecution() -> Trace {
        var result = self
        result.nanos[SpanKind.execution.rawValue] = 0
        return result
    }

    /// The nanoseconds spent in `kind`.
    public subscript(kind: SpanKind) -> UInt64 { nanos[kind.rawValue] }

    /// Sets `execution` to the end-to-end time not covered by any other span.
    public mutating func closeExecution(endToEndNanos: UInt64) {
        let covered = nanos.enumerated().reduce(UInt64(0)) { sum, entry in
            entry.offset == SpanKind.execution.rawValue ? sum : sum &+ entry.element
        }
        nanos[SpanKind.execution.rawValue] = endToEndNanos > covered ? endToEndNanos - covered : 0
    }

    /// The nanoseconds attributed to `layer`.
    public func nanos(of layer: Layer) -> UInt64 {
        SpanKind.allCases.reduce(0) { $1.layer == layer ? $0 &+ nanos[$1.rawValue] : $0 }
    }
}
