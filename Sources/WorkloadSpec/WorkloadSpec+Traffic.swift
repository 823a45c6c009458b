extension WorkloadSpec {
    /// The inclusive range transfer amounts are drawn from; `1 <= min <= max`.
    public struct AmountRange: Sendable, Equatable {
        /// The smallest amount, at least 1.
        public var min: Int64
        /// The largest amount, at least `min`.
        public var max: Int64

        /// A range, `1...100` by default.
        public init(min: Int64 = 1, max: Int64 = 100) {
            self.min = min
            self.max = max
        }
    }

    /// How the two accounts of a transfer are picked.
    public enum KeyDistribution: Sendable, Equatable {
        /// Every account equally likely.
        case uniform
        /// Zipfian with skew `theta` (YCSB's generator), `0 < theta <= 5`, `theta != 1`.
        case zipf(theta: Double)
        /// A hot set of `fraction` of the accounts receives `probability` of the picks; both
        /// in `(0, 1]`.
        case hotspot(fraction: Double, probability: Double)
    }

    /// The relative weights of the transfer classes; non-negative, summing to more than 0.
    public struct TransferMix: Sendable, Equatable {
        /// The weight of single-region transfers.
        public var singleRegion: Double
        /// The weight of cross-region transfers (needs two regions).
        public var crossRegion: Double
        /// The weight of global transfers.
        public var global: Double

        /// A mix; only single-region transfers by default.
        public init(singleRegion: Double = 1, crossRegion: Double = 0, global: Double = 0) {
            self.singleRegion = singleRegion
            self.crossRegion = crossRegion
            self.global = global
        }

        /// The weight of `transferClass`.
        public func weight(of transferClass: TransferClass) -> Double {
            switch transferClass {
            case .singleRegion: singleRegion
            case .crossRegion: crossRegion
            case .global: global
            }
        }

        /// The share of `transferClass` in `0...1`.
        public func fraction(of transferClass: TransferClass) -> Double {
            let total = singleRegion + crossRegion + global
            return total > 0 ? weight(of: transferClass) / total : 0
        }
    }

    /// How load is offered.
    public enum Load: Sendable, Equatable {
        /// Closed loop: each client sends its next transfer when the previous one finishes
        /// (plus the think time). More than one value is a matrix axis.
        case closedLoop(clients: [Int])
        /// Open loop: transfers start at `rate` per second whatever the latency, with at most
        /// `maxInFlight` outstanding; latencies run from each intended start (no coordinated omission).
        case openLoop(rate: Double, maxInFlight: Int)
    }

    /// How long the measured phase runs.
    public enum RunLength: Sendable, Equatable {
        /// For a fixed time.
        case duration(Duration)
        /// Until this many transfers have completed.
        case transactions(Int)
    }
}
