extension WorkloadSpec {
    /// The isolation level of every transaction (spelt as in the spec).
    public enum Isolation: String, Sendable, Equatable, CaseIterable {
        /// Each statement sees the data committed before it began.
        case readCommitted = "read_committed"
        /// Snapshot isolation: the transaction sees one snapshot.
        case repeatableRead = "repeatable_read"
        /// Snapshot plus first-committer-wins or SSI.
        case serializable
    }

    /// Where global timestamps come from.
    public enum TimestampSource: String, Sendable, Equatable, CaseIterable {
        /// A hybrid logical clock on every node.
        case hlc
        /// A timestamp oracle (`physical_ms << 18 | logical`, batched requests).
        case tso
    }

    /// Whether a commit waits for its WAL record to reach the disk.
    public enum Durability: String, Sendable, Equatable, CaseIterable {
        /// `write` + `fdatasync` before acknowledging.
        case fsync
        /// `write` only: fast, and lost on a crash.
        case none
    }

    /// The optimisation flags. Each holds one value or several: several make a matrix axis.
    public struct Optimisations: Sendable, Equatable {
        /// Single-region work takes the local fast path.
        public var locality: [Bool]
        /// Several transfers share one transaction, one 2PC round and one fsync.
        public var batchCommit: [Bool]
        /// Commits acknowledge after the leader's fsync; followers catch up later.
        public var asyncReplication: [Bool]

        /// The flags, each `[false]` by default; none of the lists may be empty.
        public init(
            locality: [Bool] = [false],
            batchCommit: [Bool] = [false],
            asyncReplication: [Bool] = [false]
        ) {
            self.locality = locality
            self.batchCommit = batchCommit
            self.asyncReplication = asyncReplication
        }
    }

    /// The limits of one commit batch.
    public struct Batch: Sendable, Equatable {
        /// The most transfers in one batch, `1...1024`.
        public var size: Int
        /// The longest a transfer waits for its batch to fill.
        public var window: Duration
        /// Close a batch at once when no other batch is executing (up to two in flight), as WAL
        /// group commit does, instead of waiting for it to fill or its window to end.
        public var closeWhenIdle: Bool

        /// Batch limits, 16 transfers or 1 ms by default, closed early when idle.
        public init(size: Int = 16, window: Duration = .milliseconds(1), closeWhenIdle: Bool = true) {
            self.size = size
            self.window = window
            self.closeWhenIdle = closeWhenIdle
        }
    }

    /// The bounded session pool of the L1 runtime.
    public struct Pool: Sendable, Equatable {
        /// The most sessions, `1...1024`.
        public var size: Int
        /// Sessions kept open when idle, `0...size`.
        public var minIdle: Int
        /// The longest a transfer waits for a session before failing.
        public var acquireTimeout: Duration
        /// A session is closed after this long.
        public var maxLifetime: Duration
        /// An idle session above `minIdle` is closed after this long.
        public var idleTimeout: Duration

        /// Pool settings; 16 sessions by default.
        public init(
            size: Int = 16,
            minIdle: Int = 0,
            acquireTimeout: Duration = .seconds(5),
            maxLifetime: Duration = .seconds(30 * 60),
            idleTimeout: Duration = .seconds(60)
        ) {
            self.size = size
            self.minIdle = minIdle
            self.acquireTimeout = acquireTimeout
            self.maxLifetime = maxLifetime
            self.idleTimeout = idleTimeout
        }
    }

    /// Retry with exponential backoff and jitter for retryable errors (40001, 40P01, 55P03).
    public struct Retry: Sendable, Equatable {
        /// The most attempts of one transfer, including the first, `1...1000`.
        public var maxAttempts: Int
        /// The backoff before the second attempt; it doubles per attempt.
        public var baseBackoff: Duration
        /// The cap on one backoff, at least `baseBackoff`.
        public var maxBackoff: Duration
        /// The cap on the time spent on one transfer across attempts.
        public var maxTotal: Duration

        /// Retry settings; 10 attempts, 1 ms doubling to 100 ms, 5 s in all by default.
        public init(
            maxAttempts: Int = 10,
            baseBackoff: Duration = .milliseconds(1),
            maxBackoff: Duration = .milliseconds(100),
            maxTotal: Duration = .seconds(5)
        ) {
            self.maxAttempts = maxAttempts
            self.baseBackoff = baseBackoff
            self.maxBackoff = maxBackoff
            self.maxTotal = maxTotal
        }
    }
}
