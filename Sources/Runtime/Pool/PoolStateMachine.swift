import DequeModule
import Histogram
import Storage

/// The session pool's decisions as a pure state machine (postgres-nio's `PoolStateMachine`
/// shape): each method runs under the pool's mutex, changes only this value, and returns what
/// the shell must do afterwards (open, close or health-check a session, resume a waiter). It
/// never suspends, opens, closes or resumes anything itself, so tests drive it step by step.
///
/// Sessions and waiters are named by ids (the shell keeps the session objects and the
/// continuations in dictionaries by the same ids): the machine is not generic, so it runs
/// specialized code even inside the generic `SessionPool` shell. Times are nanoseconds on the
/// pool's clock, passed in.
///
/// Invariants (checked after every step that changes a counter): no counter is negative; the
/// sessions open (idle + active + being opened) never exceed `maxSize`; idle sessions are open
/// ones; a waiter waits only while no session is idle and the pool is full.
struct PoolStateMachine {
    /// An idle session.
    struct Idle {
        /// The session's id.
        var session: Int
        /// When the session was opened.
        var createdAt: UInt64
        /// When it was last released.
        var since: UInt64
    }

    /// What an acquire does next.
    enum Acquire {
        /// Hand out this idle session (health-check it first if `check`).
        case reuse(session: Int, check: Bool)
        /// Open session `id` in a slot reserved for this caller.
        case open(id: Int)
        /// Queue and wait for a release.
        case wait
    }

    /// How a waiter's request to queue was decided.
    enum Queue {
        case queued
        /// Refused: the pool is closed (57P01).
        case closed
        /// Refused: the task was cancelled (57014).
        case cancelled
        /// A session was released, or a slot freed, since `acquire` said wait: acquire again.
        case recheck
    }

    /// What a release does next.
    enum Release: Equatable {
        /// Give the session to this waiter.
        case handOff(waiter: UInt64)
        /// Close the session; then open session `id` for this waiter (it left the queue).
        case closeAndOpenFor(waiter: UInt64, id: Int)
        /// Close the session.
        case close
        /// The session went back to the idle set.
        case idle
    }

    let maxSize: Int
    let minIdle: Int
    let maxLifetime: UInt64
    let idleTimeout: UInt64
    let healthCheckAfterIdle: UInt64

    private(set) var idle: [Idle] = []
    private var waiters: Deque<UInt64> = []
    private var nextSessionID = 0
    private(set) var closed = false
    private(set) var statistics = PoolStatistics()

    init(options: PoolOptions) {
        maxSize = options.maxSize
        minIdle = options.minIdle
        maxLifetime = options.maxLifetime.clampedNanoseconds
        idleTimeout = options.idleTimeout.clampedNanoseconds
        healthCheckAfterIdle = options.healthCheckAfterIdle.clampedNanoseconds
    }

    /// The next slot `prewarm` opens (counted active while it opens), or nil once `minIdle` are open.
    mutating func prewarmSlot() -> Int? {
        guard statistics.total < minIdle else { return nil }
        statistics.active += 1
        defer { checkCounters() }
        return reserveSlot()
    }

    /// Decides an acquire at `now`: reuse the newest idle session that is neither too old nor
    /// idle too long (those are returned in `expired`, to close), open a new one if below
    /// `maxSize`, or wait.
    mutating func acquire(now: UInt64) -> (next: Acquire, expired: [Int]) {
        var expired: [Int] = []
        defer { checkCounters() }
        while let candidate = idle.popLast() {
            let tooOld = Self.elapsed(now, candidate.createdAt) >= maxLifetime
            let idleTooLong = Self.elapsed(now, candidate.since) >= idleTimeout && statistics.total > minIdle
            if tooOld || idleTooLong {
                expired.append(candidate.session)
                statistics.total -= 1
                statistics.closed += 1
                continue
            }
            lease()
            let check = Self.elapsed(now, candidate.since) >= healthCheckAfterIdle
            return (.reuse(session: candidate.session, check: check), expired)
        }
        if statistics.total < maxSize {
            let id = reserveSlot()
            lease()
            return (.open(id: id), expired)
        }
        return (.wait, expired)
    }

    /// A reused session failed its health check: it is closed and the acquire undone (the caller
    /// acquires again). Its slot passes to the first waiter, if one queued meanwhile, whom the
    /// shell opens a session for.
    mutating func unhealthy() -> (waiter: UInt64, id: Int)? {
        statistics.unhealthy += 1
        statistics.closed += 1
        statistics.acquires -= 1
        return openFailed()
    }

    /// Queues waiter `id`, unless the pool is closed, the task is cancelled, or a
    /// session became available since `acquire` said wait.
    mutating func queue(waiter id: UInt64, cancelled: Bool) -> Queue {
        if closed { return .closed }
        if cancelled { return .cancelled }
        if !idle.isEmpty || statistics.total < maxSize { return .recheck }
        waiters.append(id)
        statistics.waits += 1
        checkCounters()
        return .queued
    }

    /// Takes waiter `id` off the queue if it is still there (a timeout or a cancellation that
    /// lost no race with a hand-off).
    mutating func expire(waiter id: UInt64, _ why: TimedWait.Expiry) -> Bool {
        guard let index = waiters.firstIndex(of: id) else { return false }
        waiters.remove(at: index)
        if why == .timedOut { statistics.timeouts += 1 } else { statistics.cancellations += 1 }
        checkCounters()
        return true
    }

    /// Decides a release at `now` of a session opened at `createdAt`: a broken (`discard`) or
    /// expired session, or any once the pool is closed, is closed (and a waiter gets a new one);
    /// otherwise it goes to the first waiter or back to the idle set.
    mutating func release(session: Int, createdAt: UInt64, discard: Bool, now: UInt64) -> Release {
        defer { checkCounters() }
        statistics.active -= 1
        if discard || closed || Self.elapsed(now, createdAt) >= maxLifetime {
            statistics.total -= 1
            statistics.closed += 1
            guard !closed, let next = waiters.popFirst() else { return .close }
            let id = reserveSlot()
            self.lease()
            return .closeAndOpenFor(waiter: next, id: id)
        }
        if let next = waiters.popFirst() {
            self.lease()
            return .handOff(waiter: next)
        }
        idle.append(Idle(session: session, createdAt: createdAt, since: now))
        return .idle
    }

    /// A session failed to open: its slot is freed, or passed (reserved again) to the first
    /// waiter, whom the shell opens a session for, so no waiter is stranded while there is room.
    mutating func openFailed() -> (waiter: UInt64, id: Int)? {
        defer { checkCounters() }
        statistics.total -= 1
        statistics.active -= 1
        guard !closed, let next = waiters.popFirst() else { return nil }
        let id = reserveSlot()
        lease()
        return (next, id)
    }

    /// Closes the pool: the idle sessions (to close) and the waiters (to fail with 57P01) leave.
    mutating func close() -> (idle: [Int], waiters: [UInt64]) {
        closed = true
        defer {
            statistics.total -= idle.count
            statistics.closed += UInt64(idle.count)
            idle = []
            waiters = []
            checkCounters()
        }
        return (idle.map(\.session), Array(waiters))
    }

    /// Records how long a waiter that got a session waited.
    mutating func recordWait(micros: UInt64) {
        _ = statistics.waitMicros.record(max(1, micros))
    }

    private mutating func reserveSlot() -> Int {
        nextSessionID += 1
        statistics.total += 1
        statistics.created += 1
        statistics.highWater = max(statistics.highWater, statistics.total)
        return nextSessionID
    }

    /// Counts a lease handed out.
    private mutating func lease() {
        statistics.active += 1
        statistics.acquires += 1
    }

    /// Updates the gauges and checks the counters (cheap: a few comparisons).
    private mutating func checkCounters() {
        statistics.idle = idle.count
        statistics.waiting = waiters.count
        precondition(
            statistics.active >= 0 && statistics.total >= 0 && statistics.total <= maxSize
                && idle.count <= statistics.total && statistics.active <= statistics.total,
            "pool counters out of bounds: total \(statistics.total), active \(statistics.active), "
                + "idle \(idle.count), max \(maxSize)")
        precondition(
            waiters.isEmpty || (idle.isEmpty && statistics.total == maxSize) || closed,
            "a waiter waits only while the pool is full")
    }

    private static func elapsed(_ now: UInt64, _ start: UInt64) -> UInt64 { now > start ? now - start : 0 }
}
