import Histogram
import WorkloadSpec

/// One second (one reporting interval) of a variant's measured window.
public struct TimeSeriesPoint: Codable, Sendable, Equatable {
    /// The figures of one transfer class in this second.
    public struct ClassPoint: Codable, Sendable, Equatable {
        /// The class measured.
        public var transferClass: TransferClass
        /// Committed transfers per second.
        public var tps: Double
        /// Median end-to-end latency of the successes, in microseconds.
        public var p50Micros: UInt64
        /// 99th percentile end-to-end latency of the successes, in microseconds.
        public var p99Micros: UInt64
        /// Transfers that failed after all retries.
        public var errors: Int
        /// Retried attempts.
        public var retries: Int

        /// A class point from its parts.
        public init(
            transferClass: TransferClass, tps: Double, p50Micros: UInt64, p99Micros: UInt64, errors: Int,
            retries: Int
        ) {
            self.transferClass = transferClass
            self.tps = tps
            self.p50Micros = p50Micros
            self.p99Micros = p99Micros
            self.errors = errors
            self.retries = retries
        }

        enum CodingKeys: String, CodingKey {
            case transferClass = "class"
            case tps, p50Micros, p99Micros, errors, retries
        }
    }

    /// Seconds since the end of the warm-up at the end of this interval (1 for the first).
    public var second: Int
    /// One point per class that saw any transfer in this interval, in class order.
    public var classes: [ClassPoint]
    /// The engine's gauges at the end of the interval (`commit_log_entries`, `heap_versions`,
    /// `jemalloc_resident_bytes`, ...), when the run recorded them: whether memory stays flat.
    public var gauges: [String: Double]?

    /// A point from its parts.
    public init(second: Int, classes: [ClassPoint]) {
        self.second = second
        self.classes = classes
    }

    /// The point of an interval of `intervalSeconds` from the clients' merged sample.
    public init(second: Int, sample: IntervalSample, intervalSeconds: Double = 1) {
        self.second = second
        classes = sample.classes.filter { !$0.isEmpty }.map { classSample in
            ClassPoint(
                transferClass: classSample.transferClass,
                tps: intervalSeconds > 0 ? Double(classSample.committed) / intervalSeconds : 0,
                p50Micros: classSample.latency.valueAtPercentile(50),
                p99Micros: classSample.latency.valueAtPercentile(99),
                errors: classSample.errors,
                retries: classSample.retries
            )
        }
    }

    /// Committed transfers per second over all classes.
    public var totalTPS: Double { classes.reduce(0) { $0 + $1.tps } }

    /// The point of one class, if it saw any transfer.
    public func point(for transferClass: TransferClass) -> ClassPoint? {
        classes.first { $0.transferClass == transferClass }
    }
}
