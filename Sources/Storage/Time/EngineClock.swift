#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one source of time for every layer: storage counters, lock timeouts, pool waits, batch windows, the
/// harness's driver and sampler, and (L2) hybrid logical clocks and Raft ticks.
///
/// Two timelines: `nowNanos()` is monotonic (durations, timeouts, deadlines); `wallNanos()` is physical time
/// since the Unix epoch, which may step (a skewed node, a test). Nothing outside this file and `ManualClock`
/// calls `clock_gettime`, `ContinuousClock` or `Task.sleep` directly.
public protocol EngineClock: Sendable {
    /// Nanoseconds on a monotonic timeline; never decreases.
    func nowNanos() -> UInt64
    /// Physical time in nanoseconds since the Unix epoch (may step backwards on a skewed or test clock).
    func wallNanos() -> UInt64
    /// Suspends until `nowNanos() >= deadline`; throws `CancellationError` if the task is cancelled first.
    func sleep(untilNanos deadline: UInt64) async throws
}

extension EngineClock {
    /// Suspends for `nanoseconds` on this clock's monotonic timeline.
    public func sleep(nanoseconds: UInt64) async throws {
        try await sleep(untilNanos: nowNanos() &+ nanoseconds)
    }

    /// Suspends for `duration` on this clock's monotonic timeline.
    public func sleep(for duration: Duration) async throws {
        try await sleep(nanoseconds: duration.clampedNanoseconds)
    }

    /// Nanoseconds elapsed since `start` (an earlier `nowNanos()`), never negative.
    @inline(__always)
    public func nanosSince(_ start: UInt64) -> UInt64 {
        let now = nowNanos()
        return now > start ? now - start : 0
    }
}

/// The machine's clocks: `CLOCK_MONOTONIC`, `CLOCK_REALTIME` and `Task.sleep`.
public struct SystemClock: EngineClock {
    /// The shared instance (the type has no state).
    public static let shared = SystemClock()

    public init() {}

    @inline(__always)
    public func nowNanos() -> UInt64 { Self.read(CLOCK_MONOTONIC) }

    public func wallNanos() -> UInt64 { Self.read(CLOCK_REALTIME) }

    public func sleep(untilNanos deadline: UInt64) async throws {
        let now = nowNanos()
        if deadline > now { try await Task.sleep(nanoseconds: deadline - now) } else { try Task.checkCancellation() }
    }

    @inline(__always)
    private static func read(_ id: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(id, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to `0...UInt64.max`.
    public var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
