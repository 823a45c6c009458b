import Results

/// What the driver reports once a second, for the live progress line (formatted above this
/// module, in Reporting and the CLI).
public struct DriverProgress: Sendable {
    /// The phase the variant is in.
    public enum Phase: String, Sendable {
        /// Creating accounts.
        case loading
        /// Running but not recording (excluded from results).
        case warmup
        /// Running and recording.
        case measuring
        /// Crash, recovery and audit of the final state.
        case checking
    }

    /// The variant's name.
    public var variant: String
    /// Its position in the matrix (1-based) and the matrix size.
    public var variantIndex: Int
    /// The number of variants in the matrix.
    public var variantCount: Int
    /// The phase.
    public var phase: Phase
    /// Seconds since the phase began.
    public var elapsedSeconds: Double
    /// The last second's sample (measuring only).
    public var point: TimeSeriesPoint?
    /// Transfers committed since measuring began (or done in the phase, for loading/warm-up).
    public var cumulativeCount: Int
    /// Committed per second since measuring began.
    public var cumulativeTPS: Double
    /// Errors since measuring began.
    public var cumulativeErrors: Int
}
