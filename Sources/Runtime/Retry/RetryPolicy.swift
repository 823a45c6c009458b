/// Retries of retryable failures (40001, 40P01): the whole transaction closure runs again,
/// after an exponential backoff with full jitter, within bounded attempts and bounded total time.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (1 = never retry).
    public var maxAttempts: Int
    /// The backoff cap of the first retry; it doubles each retry up to `maxBackoff`.
    public var baseBackoff: Duration
    /// The largest backoff cap.
    public var maxBackoff: Duration
    /// No retry starts once this much time has passed since the first attempt began.
    public var maxTotal: Duration

    /// Creates a policy (defaults: 10 attempts, 1 ms base, 100 ms cap, 5 s in all).
    public init(
        maxAttempts: Int = 10, baseBackoff: Duration = .milliseconds(1), maxBackoff: Duration = .milliseconds(100),
        maxTotal: Duration = .seconds(5)
    ) {
        precondition(maxAttempts >= 1, "a transaction runs at least once")
        self.maxAttempts = maxAttempts
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.maxTotal = maxTotal
    }

    /// Never retry.
    public static let never = RetryPolicy(maxAttempts: 1)

    /// The backoff before retry number `retry` (1-based): uniform in [0, min(maxBackoff,
    /// baseBackoff * 2^(retry-1))] ("full jitter").
    public func backoff(beforeRetry retry: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let cap = min(maxBackoff.nanoseconds, baseBackoff.nanoseconds << min(max(retry - 1, 0), 30))
        guard cap > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...cap, using: &random))
    }
}
