import Storage
import Synchronization

/// A node's wall clock off by an offset from the shared clock (a `clock_skew` fault, a test of
/// causality across regions): monotonic time and sleeps are the shared clock's, physical time
/// (what the node's HLC reads) is shifted. The offset can change while the node runs.
final class SkewedClock: EngineClock {
    let base: any EngineClock
    /// Nanoseconds added to the base wall clock (negative: behind).
    let offsetNanos: Atomic<Int64>

    init(base: any EngineClock, offsetNanos: Int64 = 0) {
        self.base = base
        self.offsetNanos = Atomic(offsetNanos)
    }

    func nowNanos() -> UInt64 { base.nowNanos() }

    func wallNanos() -> UInt64 {
        let wall = base.wallNanos()
        let offset = offsetNanos.load(ordering: .relaxed)
        return offset >= 0 ? wall &+ UInt64(offset) : wall &- min(wall, UInt64(-offset))
    }

    func sleep(untilNanos deadline: UInt64) async throws { try await base.sleep(untilNanos: deadline) }
}
