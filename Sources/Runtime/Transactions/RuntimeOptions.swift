/// Settings of the runtime.
public struct RuntimeOptions: Sendable, Hashable {
    /// How long a row-lock request waits before failing with 55P03 (`lock_timeout`).
    public var lockTimeout: Duration
    /// The retry policy of `TransactionManager.run`.
    public var retry: RetryPolicy

    /// Creates options (defaults: 1 s lock timeout, the default retry policy).
    public init(lockTimeout: Duration = .seconds(1), retry: RetryPolicy = RetryPolicy()) {
        self.lockTimeout = lockTimeout
        self.retry = retry
    }
}

/// Counters of the runtime, cumulative.
public struct RuntimeStatistics: Sendable, Hashable {
    /// Transactions committed.
    public var commits: UInt64 = 0
    /// Transactions aborted (by error, by the caller, or by a business rejection).
    public var aborts: UInt64 = 0
    /// Attempts re-run by the retry policy.
    public var retries: UInt64 = 0
    /// Nanoseconds slept in retry backoff.
    public var backoffNanos: UInt64 = 0
    /// Failures by SQLSTATE (retried or not).
    public var errorsBySQLState: [String: UInt64] = [:]
    /// Transactions that gave up: retries exhausted or time bound reached.
    public var retriesExhausted: UInt64 = 0
}
