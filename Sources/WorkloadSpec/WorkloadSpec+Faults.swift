extension WorkloadSpec {
    /// A fault injected during the measured phase.
    public struct Fault: Sendable, Equatable {
        /// What a fault does.
        public enum Kind: String, Sendable, Equatable, CaseIterable {
            /// Crash a node of the region (its leader) and restart it after `duration`.
            case crashNode = "crash_node"
            /// Cut the region off from the others for `duration`.
            case partition
            /// Drop messages to and from the region with `probability`.
            case loss
            /// Add `extra` to every message to and from the region.
            case delay
            /// Move the clocks of the region's nodes `extra` ahead.
            case clockSkew = "clock_skew"
        }

        /// When the fault starts, counted from the start of the measured phase.
        public var at: Duration
        /// What the fault does.
        public var kind: Kind
        /// The declared region it hits.
        public var region: String
        /// How long it lasts.
        public var duration: Duration
        /// The drop probability in `(0, 1]`; only for ``Kind/loss``.
        public var probability: Double?
        /// The added delay or clock offset; only for ``Kind/delay`` and ``Kind/clockSkew``.
        public var extra: Duration?

        /// A fault; `probability` only for loss, `extra` only for delay and clock skew.
        public init(
            at: Duration,
            kind: Kind,
            region: String,
            duration: Duration,
            probability: Double? = nil,
            extra: Duration? = nil
        ) {
            self.at = at
            self.kind = kind
            self.region = region
            self.duration = duration
            self.probability = probability
            self.extra = extra
        }
    }
}
