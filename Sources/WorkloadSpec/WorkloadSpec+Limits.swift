extension WorkloadSpec {
    /// The bounds the decoder enforces: every count, size and list in a spec has one.
    public enum Limits {
        /// The longest spec or region name.
        public static let nameLength = 64
        /// The most accounts.
        public static let accounts = 1_000_000_000
        /// The largest payload stored with a balance, in bytes.
        public static let payloadBytes = 1024
        /// The most regions.
        public static let regions = 16
        /// The most replicas of one region's Raft group.
        public static let replicas = 7
        /// The most closed-loop clients.
        public static let clients = 10_000
        /// The highest open-loop rate, in transfers per second.
        public static let rate = 10_000_000.0
        /// The most transfers in flight in an open-loop run.
        public static let maxInFlight = 100_000
        /// The largest transaction count of a run.
        public static let transactions = 1_000_000_000_000
        /// The largest commit batch.
        public static let batchSize = 1024
        /// The largest session pool.
        public static let poolSize = 1024
        /// The most attempts of one transfer.
        public static let retryAttempts = 1000
        /// The most faults in a schedule.
        public static let faults = 256
        /// The most values on one matrix axis.
        public static let axisValues = 64
        /// The highest zipf skew.
        public static let zipfTheta = 5.0
        /// The most aliased mappings or lists a spec's YAML may expand (each use of an alias of
        /// a collection counts once, nested uses each count).
        public static let aliasExpansions = 1000
        /// The most YAML nodes a spec may expand to, aliases included.
        public static let expandedNodes = 100_000
    }
}
