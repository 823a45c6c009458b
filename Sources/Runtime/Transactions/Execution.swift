/// The outcome of `TransactionManager.run`: the body's result (or the error that ended it),
/// the attempts it took, and the spans of all attempts for per-layer latency.
public struct Execution<Value: Sendable>: Sendable {
    /// The value the body returned in the attempt that committed, or the final error: a
    /// `TransactionError` (retries exhausted, or not retryable) or the body's own error (a
    /// business rejection such as insufficient funds), after which the transaction was aborted.
    public var result: Result<Value, any Error>
    /// Attempts made (1 when the first committed).
    public var attempts: Int
    /// The SQLSTATE of each failed attempt that was retried, in order.
    public var retriedErrors: [String]
    /// The spans of every attempt, with `execution` closed against `endToEndNanos`.
    public var trace: Trace
    /// Wall time from the call to its return.
    public var endToEndNanos: UInt64
    /// The transaction id of the last attempt.
    public var xid: UInt64
}
