/// How one transfer ended, as the workload driver reports it to a ``ClientRecorder``.
public enum TransferOutcome: Sendable, Hashable {
    /// The transfer committed: money moved and the commit was acknowledged.
    case committed
    /// The engine answered but refused the transfer for a business reason (insufficient funds).
    ///
    /// Not an error: the transaction did its work and answered, so its latency counts with the
    /// successes, but it moves no money and does not count towards TPS.
    case rejected
    /// The transfer failed after all retries, with the SQLSTATE of the last error
    /// (for example `40001` serialization failure, `57P01` admin shutdown).
    case failed(sqlstate: String)
}
