import Runtime
import Storage

/// What became of a transfer.
public struct TransferResult: Sendable, Hashable {
    /// How it ended.
    public enum Outcome: Sendable, Hashable {
        /// Committed and acknowledged (durable per the durability setting).
        case committed
        /// Refused by the business rule (insufficient funds): not an engine error.
        case rejected
        /// Failed with this SQLSTATE after the retries the policy allowed (22023: invalid input,
        /// refused before any write).
        case failed(sqlState: String)
    }

    /// The SQLSTATE of a refused request (22023, invalid parameter value): a transfer to the same
    /// account, to an unknown account, or of a non-positive amount. Reports count it as invalid
    /// input, not as an engine failure.
    public static let invalidInputSQLState = TransactionError.Code.invalidParameterValue.rawValue

    /// Whether the request was refused as invalid input before any write.
    public var isInvalidInput: Bool { outcome == .failed(sqlState: Self.invalidInputSQLState) }

    /// The outcome.
    public var outcome: Outcome
    /// Retried attempts' SQLSTATEs, in order.
    public var retriedErrors: [String]
    /// End-to-end nanoseconds, from the call (or the intended start, for open loop, added by
    /// the driver) to the acknowledgement.
    public var endToEndNanos: UInt64
    /// Nanoseconds attributed to L2, L1 and L0; `l2 + l1 + l0 == endToEndNanos`.
    public var l2Nanos: UInt64
    /// L1's share.
    public var l1Nanos: UInt64
    /// L0's share.
    public var l0Nanos: UInt64
    /// The transaction id that committed it (0 if none): L2 timestamp = L1 id = L0 xmin.
    public var xid: TransactionID
    /// The L2 time by span (timestamp, gateway, network, replication, decision, push, redirect);
    /// zero for a result built from per-layer times only.
    public var l2Breakdown = L2Breakdown()

    /// Creates a result from a transfer's trace: its execution span is closed against
    /// `endToEnd`, and the layers are the trace's per-layer sums.
    public init(_ outcome: Outcome, retried: [String], trace: Trace, endToEnd: UInt64, xid: TransactionID) {
        var closed = trace
        closed.closeExecution(endToEndNanos: endToEnd)
        self.init(
            outcome, retried: retried, endToEndNanos: endToEnd, l2Nanos: closed.nanos(of: .l2),
            l1Nanos: closed.nanos(of: .l1), l0Nanos: closed.nanos(of: .l0), xid: xid)
        l2Breakdown = L2Breakdown(closed)
    }

    /// Creates a result from per-layer times measured elsewhere (a PostgreSQL client, an L2
    /// coordinator). If the layers add up to more than `endToEndNanos` (a clock step), the
    /// end-to-end time becomes their sum; if less, L1 takes the remainder (client-side
    /// queueing and execution self time), so `l2 + l1 + l0 == endToEndNanos` always holds.
    public init(
        _ outcome: Outcome, retried: [String] = [], endToEndNanos endToEnd: UInt64, l2Nanos: UInt64 = 0,
        l1Nanos: UInt64 = 0, l0Nanos: UInt64 = 0, xid: TransactionID
    ) {
        self.outcome = outcome
        self.retriedErrors = retried
        self.l2Nanos = l2Nanos
        self.l1Nanos = l1Nanos
        self.l0Nanos = l0Nanos
        // Spans are measured one after another, so they never exceed the end-to-end time; if a
        // clock step ever made them, the end-to-end time is their sum, keeping the identity.
        self.endToEndNanos = max(endToEnd, l2Nanos &+ l1Nanos &+ l0Nanos)
        self.l1Nanos &+= self.endToEndNanos &- (l2Nanos &+ l1Nanos &+ l0Nanos)
        self.xid = xid
        // The per-layer identity every report relies on, for every recorded transfer (kept by
        // the two lines above for any input short of a UInt64 overflow of the sum).
        precondition(
            self.l2Nanos <= endToEndNanos && self.l0Nanos <= endToEndNanos
                && self.l2Nanos &+ self.l1Nanos &+ self.l0Nanos == endToEndNanos,
            "L2 \(self.l2Nanos) + L1 \(self.l1Nanos) + L0 \(self.l0Nanos) != end-to-end \(endToEndNanos)")
    }
}
