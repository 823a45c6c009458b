import Engine
import Runtime
import Storage
import Synchronization

/// Shared state of one variant's run: the phase clock and counters every client touches, kept
/// in atomics so clients never contend on a lock for them.
final class RunControl: Sendable {
    /// The longest a client or the sampler sleeps before it looks again at whether the run was
    /// stopped (an interrupt, a reached target): bounds how late a stop is noticed.
    static let pollNanos: UInt64 = 50_000_000

    /// The clock every phase is measured and every wait is slept on.
    let clock: any EngineClock
    /// Monotonic nanoseconds at which measuring begins (the end of warm-up).
    let measureStart: UInt64
    /// Monotonic nanoseconds at which the run stops (duration runs), or `.max`.
    let deadline: UInt64
    /// Transfers to measure before stopping (transaction-count runs), or `.max`.
    let target: Int
    /// A stop requested from outside (SIGINT, SIGTERM), if the caller can make one.
    let interrupt: RunInterrupt?
    let completed = Atomic<Int>(0)
    let measured = Atomic<Int>(0)
    let measuredErrors = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    /// Monotonic nanoseconds at which the measured phase ended (set once).
    let measureEnd = Atomic<UInt64>(0)

    init(
        measureStart: UInt64, deadline: UInt64, target: Int, clock: any EngineClock = SystemClock.shared,
        interrupt: RunInterrupt? = nil
    ) {
        self.measureStart = measureStart
        self.deadline = deadline
        self.target = target
        self.clock = clock
        self.interrupt = interrupt
    }

    /// Whether clients should stop issuing transfers.
    func shouldStop(now: UInt64) -> Bool {
        if stopped.load(ordering: .relaxed) { return true }
        if now >= deadline || measured.load(ordering: .relaxed) >= target || interrupt?.isRequested == true {
            stop(at: now)
            return true
        }
        return false
    }

    /// Ends the measured phase at `now`, clamped to the measured window: a stop noticed late (or
    /// asked for at a time past the deadline, as an open loop's next intended start) never
    /// stretches the window beyond the deadline.
    func stop(at now: UInt64) {
        if !stopped.exchange(true, ordering: .relaxed) {
            measureEnd.store(min(max(now, measureStart), max(deadline, measureStart)), ordering: .relaxed)
        }
    }

    /// Counts a measured completion and stops the run when a transaction-count target is reached.
    func countMeasured(failed: Bool) {
        if failed { measuredErrors.add(1, ordering: .relaxed) }
        let total = measured.add(1, ordering: .relaxed).newValue
        if total >= target { stop(at: clock.nowNanos()) }
    }

    /// Sleeps until `wake`, but never past the deadline, and wakes at least every ``pollNanos`` to
    /// notice a stop. Returns false when the run stopped meanwhile.
    func sleep(until wake: UInt64) async -> Bool {
        let end = min(wake, deadline)
        while true {
            let now = clock.nowNanos()
            if shouldStop(now: now) { return false }
            if now >= end { return true }
            do {
                try await clock.sleep(untilNanos: min(end, now &+ Self.pollNanos))
            } catch {
                return false
            }
        }
    }
}

/// Acknowledged transfers of one open-loop slot: its buffer of the run's
/// ``AcknowledgementSpill``, shared by the slot's transfers.
final class AckLog: Sendable {
    private let writer: Mutex<AcknowledgementSpill.Writer>

    init(_ spill: AcknowledgementSpill) {
        writer = Mutex(AcknowledgementSpill.Writer(spill))
    }

    func add(_ id: UInt64, _ xid: UInt64) {
        writer.withLock { $0.append(id: id, xid: xid) }
    }

    /// Appends what the slot still buffers (once its transfers are done).
    func flush() {
        writer.withLock { $0.flush() }
    }
}
