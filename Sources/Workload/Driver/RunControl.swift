import Engine
import Runtime
import Synchronization

/// Shared state of one variant's run: the phase clock and counters every client touches, kept
/// in atomics so clients never contend on a lock for them.
final class RunControl: Sendable {
    /// Monotonic nanoseconds at which measuring begins (the end of warm-up).
    let measureStart: UInt64
    /// Monotonic nanoseconds at which the run stops (duration runs), or `.max`.
    let deadline: UInt64
    /// Transfers to measure before stopping (transaction-count runs), or `.max`.
    let target: Int
    let completed = Atomic<Int>(0)
    let measured = Atomic<Int>(0)
    let measuredErrors = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    /// Monotonic nanoseconds at which the measured phase ended (set once).
    let measureEnd = Atomic<UInt64>(0)

    init(measureStart: UInt64, deadline: UInt64, target: Int) {
        self.measureStart = measureStart
        self.deadline = deadline
        self.target = target
    }

    /// Whether clients should stop issuing transfers.
    func shouldStop(now: UInt64) -> Bool {
        if stopped.load(ordering: .relaxed) { return true }
        if now >= deadline || measured.load(ordering: .relaxed) >= target {
            stop(at: now)
            return true
        }
        return false
    }

    func stop(at now: UInt64) {
        if !stopped.exchange(true, ordering: .relaxed) {
            measureEnd.store(max(now, measureStart), ordering: .relaxed)
        }
    }

    /// Counts a measured completion; returns false if it exceeds a transaction-count target.
    func countMeasured(failed: Bool) {
        if failed { measuredErrors.add(1, ordering: .relaxed) }
        let total = measured.add(1, ordering: .relaxed).newValue
        if total >= target { stop(at: monotonicNow()) }
    }
}

/// Acknowledged transfers of one client (request id -> committing xid), merged at the end.
final class AckLog: Sendable {
    private let entries = Mutex<[UInt64: UInt64]>([:])

    func add(_ id: UInt64, _ xid: UInt64) {
        entries.withLock { $0[id] = xid }
    }

    var all: [UInt64: UInt64] { entries.withLock { $0 } }
}
