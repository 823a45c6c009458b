import Histogram
import WorkloadSpec

/// What the clients did during one reporting interval (normally one second): per transfer class,
/// the end-to-end latency of successes and the counts.
///
/// ``ClientRecorder/takeInterval(recycling:)`` hands one out and starts a fresh one, the
/// interval-recorder pattern of HdrHistogram: a once-a-second reporter merges the samples of all
/// clients with ``add(_:)`` into one ``TimeSeriesPoint`` without stopping them.
public struct IntervalSample: Sendable, Equatable {
    /// One transfer class's share of an interval.
    public struct ClassSample: Sendable, Equatable {
        /// The class these figures belong to.
        public let transferClass: TransferClass
        /// End-to-end latency in microseconds of the committed and rejected transfers.
        public var latency: Histogram<UInt64>
        /// Transfers that committed.
        public var committed: Int
        /// Transfers refused for insufficient funds.
        public var rejected: Int
        /// Transfers that failed after all retries.
        public var errors: Int
        /// Retried attempts.
        public var retries: Int

        /// An empty sample of `transferClass`.
        public init(transferClass: TransferClass) {
            self.transferClass = transferClass
            latency = .latency()
            committed = 0
            rejected = 0
            errors = 0
            retries = 0
        }

        /// Whether anything happened in this class during the interval.
        public var isEmpty: Bool { committed == 0 && rejected == 0 && errors == 0 && retries == 0 }

        mutating func reset() {
            latency.reset()
            committed = 0
            rejected = 0
            errors = 0
            retries = 0
        }

        mutating func add(_ other: ClassSample) {
            latency.add(other.latency)
            committed += other.committed
            rejected += other.rejected
            errors += other.errors
            retries += other.retries
        }
    }

    /// One sample per transfer class, in `TransferClass.allCases` order (a fixed array, so the
    /// recording hot path indexes it without hashing).
    public internal(set) var classes: [ClassSample]

    /// An empty sample.
    public init() {
        classes = TransferClass.allCases.map(ClassSample.init(transferClass:))
    }

    /// The sample of one class.
    public subscript(transferClass: TransferClass) -> ClassSample {
        get { classes[transferClass.slot] }
        set { classes[transferClass.slot] = newValue }
    }

    /// Whether nothing happened during the interval.
    public var isEmpty: Bool { classes.allSatisfy(\.isEmpty) }

    /// Adds another client's sample of the same interval into this one.
    public mutating func add(_ other: IntervalSample) {
        for slot in classes.indices {
            classes[slot].add(other.classes[slot])
        }
    }

    /// Empties the sample, keeping the histograms' storage for reuse.
    public mutating func reset() {
        for slot in classes.indices {
            classes[slot].reset()
        }
    }

    /// The sum of several clients' samples of the same interval.
    public static func merged(_ samples: [IntervalSample]) -> IntervalSample {
        var total = IntervalSample()
        for sample in samples {
            total.add(sample)
        }
        return total
    }
}
