import DequeModule
import Histogram
import Storage
import Synchronization

/// Creates, checks and closes the sessions a `SessionPool` hands out: an embedded session for
/// the in-process engine, a PostgreSQL connection for the postgres backend.
public protocol SessionFactory: Sendable {
    /// The session type.
    associatedtype Session: Sendable
    /// Opens a new session (`id` is unique within the pool, for logs and tests).
    func makeSession(id: Int) async throws -> Session
    /// Whether an idle session still works (a cheap ping).
    func isHealthy(_ session: Session) async -> Bool
    /// Closes a session the pool no longer keeps.
    func close(_ session: Session) async
}

/// Limits and timeouts of a session pool; each is a bound named in the spec reference.
public struct PoolOptions: Sendable, Hashable {
    /// Most sessions open at once (idle + active + being opened).
    public var maxSize: Int
    /// Sessions kept open even when idle (opened by `prewarm`).
    public var minIdle: Int
    /// How long `acquire` waits for a session before failing with 53300.
    public var acquireTimeout: Duration
    /// A session older than this is closed when it is next released or acquired.
    public var maxLifetime: Duration
    /// An idle session beyond `minIdle` unused for this long is closed at the next acquire.
    public var idleTimeout: Duration
    /// An idle session unused for this long is health-checked before it is handed out.
    public var healthCheckAfterIdle: Duration

    /// Creates options.
    public init(
        maxSize: Int, minIdle: Int = 0, acquireTimeout: Duration = .seconds(5), maxLifetime: Duration = .seconds(1800),
        idleTimeout: Duration = .seconds(60), healthCheckAfterIdle: Duration = .seconds(1)
    ) {
        precondition(
            maxSize >= 1 && minIdle >= 0 && minIdle <= maxSize, "pool bounds: 0 <= minIdle <= maxSize, maxSize >= 1")
        self.maxSize = maxSize
        self.minIdle = minIdle
        self.acquireTimeout = acquireTimeout
        self.maxLifetime = maxLifetime
        self.idleTimeout = idleTimeout
        self.healthCheckAfterIdle = healthCheckAfterIdle
    }
}

/// Counters and gauges of a session pool.
public struct PoolStatistics: Sendable {
    /// Sessions open (idle + active + being opened).
    public var total = 0
    /// Sessions idle in the pool.
    public var idle = 0
    /// Sessions leased out.
    public var active = 0
    /// Callers waiting now.
    public var waiting = 0
    /// Leases handed out.
    public var acquires: UInt64 = 0
    /// Acquires that had to wait.
    public var waits: UInt64 = 0
    /// Acquires that failed with 53300 after `acquireTimeout`.
    public var timeouts: UInt64 = 0
    /// Acquires cancelled while waiting.
    public var cancellations: UInt64 = 0
    /// Sessions opened and closed over the pool's life.
    public var created: UInt64 = 0
    /// Sessions closed (expired, idle too long, unhealthy or broken).
    public var closed: UInt64 = 0
    /// Health checks that failed.
    public var unhealthy: UInt64 = 0
    /// The most sessions ever open at once (never above `maxSize`).
    public var highWater = 0
    /// Wait time of acquires that waited, in microseconds.
    public var waitMicros = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
}

/// A bounded pool of sessions with fair (FIFO) waiting, acquire timeout and cancellation,
/// health checks, maximum lifetime and idle timeout.
///
/// A released session goes straight to the longest waiter (no barging by newcomers). No lock is
/// held across an `await`; `withSession` returns the lease on every path (success, error,
/// cancellation), so no permit leaks. Waits go through `TimedWait` (the lock manager's too);
/// timeouts, lifetimes and idle times are read from the injected clock.
public final class SessionPool<Factory: SessionFactory>: Sendable {
    /// A leased session.
    public struct Lease: Sendable {
        /// The session.
        public let session: Factory.Session
        let id: Int
        /// When the session was opened, in nanoseconds on the pool's clock.
        let createdAt: UInt64
    }

    private struct Idle {
        var lease: Lease
        /// When it was last released, in nanoseconds on the pool's clock.
        var since: UInt64
    }

    private struct Waiter {
        let id: UInt64
        let continuation: UnsafeContinuation<Lease, any Error>
    }

    private enum Step {
        case reuse(Idle)
        case open(Int)
        case wait
    }
    private enum Next {
        case handOff(Waiter)
        case openFor(Waiter, Int)
        case idle, none
    }

    private struct State {
        var idle: [Idle] = []
        var waiters: Deque<Waiter> = []
        var nextSessionID = 0
        var nextWaiterID: UInt64 = 0
        var closed = false
        var statistics = PoolStatistics()
    }

    private let factory: Factory
    /// The pool's bounds.
    public let options: PoolOptions
    private let clock: any EngineClock
    private let state = Mutex(State())

    /// Creates an empty pool timing waits, lifetimes and idle times on `clock`; call `prewarm`
    /// to open `minIdle` sessions.
    public init(factory: Factory, options: PoolOptions, clock: any EngineClock = SystemClock.shared) {
        self.factory = factory
        self.options = options
        self.clock = clock
    }

    /// Opens sessions until `minIdle` are open.
    public func prewarm() async throws {
        while true {
            let id = state.withLock { s -> Int? in
                guard s.statistics.total < options.minIdle else { return nil }
                // Counted active while it opens, as an acquire's new session is: `release`
                // (or `freeFailedSlot`) takes it back.
                s.statistics.active += 1
                return reserveSlot(&s)
            }
            guard let id else { return }
            let lease: Lease
            do { lease = try await open(id) } catch {
                let next = state.withLock { s in freeFailedSlot(&s) }
                if let (waiter, id) = next { openFor(waiter, id) }
                throw error
            }
            release(lease)
        }
    }

    /// Runs `body` with a leased session and returns it to the pool afterwards, whatever
    /// happens. With `discardOnError`, a session whose body threw is closed instead of reused.
    /// Returns the body's value and the nanoseconds spent waiting for the session.
    public func withSession<Value: Sendable>(
        discardOnError: Bool = false, _ body: (Factory.Session) async throws -> Value
    ) async throws -> (value: Value, waitNanos: UInt64) {
        let start = clock.nowNanos()
        let lease = try await acquire()
        let waited = clock.nanosSince(start)
        do {
            let value = try await body(lease.session)
            release(lease)
            return (value, waited)
        } catch {
            release(lease, discard: discardOnError)
            throw error
        }
    }

    /// Leases a session: an idle one (health-checked if idle a while), a new one if below
    /// `maxSize`, or the next one released, waiting at most `acquireTimeout` (53300) and
    /// failing with 57014 if the task is cancelled.
    public func acquire() async throws -> Lease {
        while true {
            var expired: [Lease] = []
            let now = clock.nowNanos()
            let step = state.withLock { s -> Step in
                while let candidate = s.idle.popLast() {
                    let tooOld = Self.elapsed(now, since: candidate.lease.createdAt) >= options.maxLifetime
                    let idleTooLong =
                        Self.elapsed(now, since: candidate.since) >= options.idleTimeout
                        && s.statistics.total > options.minIdle
                    if tooOld || idleTooLong {
                        expired.append(candidate.lease)
                        s.statistics.total -= 1
                        s.statistics.closed += 1
                        continue
                    }
                    s.statistics.active += 1
                    s.statistics.acquires += 1
                    updateGauges(&s)
                    return .reuse(candidate)
                }
                if s.statistics.total < options.maxSize {
                    let id = reserveSlot(&s)
                    s.statistics.active += 1
                    s.statistics.acquires += 1
                    updateGauges(&s)
                    return .open(id)
                }
                return .wait
            }
            for lease in expired { await factory.close(lease.session) }
            switch step {
            case .reuse(let idle):
                if Self.elapsed(clock.nowNanos(), since: idle.since) >= options.healthCheckAfterIdle,
                    !(await factory.isHealthy(idle.lease.session))
                {
                    await factory.close(idle.lease.session)
                    state.withLock { s in
                        s.statistics.unhealthy += 1
                        s.statistics.closed += 1
                        s.statistics.total -= 1
                        s.statistics.active -= 1
                        s.statistics.acquires -= 1
                        updateGauges(&s)
                    }
                    continue
                }
                return idle.lease
            case .open(let id):
                do { return try await open(id) } catch {
                    let next = state.withLock { s in freeFailedSlot(&s) }
                    if let (waiter, id) = next { openFor(waiter, id) }
                    throw error
                }
            case .wait:
                do { return try await waitForRelease() } catch is Recheck { continue }
            }
        }
    }

    /// Returns a lease. A broken (`discard`) or expired session, or any session once the pool is
    /// closed, is closed, and a waiter, if any, gets a newly opened one instead; otherwise the
    /// session goes to the first waiter or back to the idle set.
    public func release(_ lease: Lease, discard: Bool = false) {
        let now = clock.nowNanos()
        let expired = discard || Self.elapsed(now, since: lease.createdAt) >= options.maxLifetime
        let next = state.withLock { s -> Next in
            s.statistics.active -= 1
            if expired || s.closed {
                s.statistics.total -= 1
                s.statistics.closed += 1
                guard !s.closed, let waiter = s.waiters.popFirst() else {
                    updateGauges(&s)
                    return .none
                }
                let id = reserveSlot(&s)
                s.statistics.active += 1
                s.statistics.acquires += 1
                updateGauges(&s)
                return .openFor(waiter, id)
            }
            if let waiter = s.waiters.popFirst() {
                s.statistics.active += 1
                s.statistics.acquires += 1
                updateGauges(&s)
                return .handOff(waiter)
            }
            s.idle.append(Idle(lease: lease, since: now))
            updateGauges(&s)
            return .idle
        }
        switch next {
        case .handOff(let waiter): waiter.continuation.resume(returning: lease)
        case .idle: break
        case .none, .openFor:
            let factory = factory
            Task {
                await factory.close(lease.session)
                if case .openFor(let waiter, let id) = next { self.openFor(waiter, id) }
            }
        }
    }

    /// The pool's counters and gauges.
    public var statistics: PoolStatistics { state.withLock { $0.statistics } }

    /// Closes every idle session; leased ones are closed as they come back. Waiters fail (57P01).
    public func close() async {
        let (idle, waiters) = state.withLock { s -> ([Idle], Deque<Waiter>) in
            s.closed = true
            defer {
                s.statistics.total -= s.idle.count
                s.statistics.closed += UInt64(s.idle.count)
                s.idle = []
                s.waiters = []
                updateGauges(&s)
            }
            return (s.idle, s.waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: TransactionError(.adminShutdown, "the session pool is closed"))
        }
        for entry in idle { await factory.close(entry.lease.session) }
    }

    // MARK: - Internals

    private func reserveSlot(_ s: inout State) -> Int {
        s.nextSessionID += 1
        s.statistics.total += 1
        s.statistics.created += 1
        s.statistics.highWater = max(s.statistics.highWater, s.statistics.total)
        return s.nextSessionID
    }

    private func updateGauges(_ s: inout State) {
        s.statistics.idle = s.idle.count
        s.statistics.waiting = s.waiters.count
        // Every path that changes a counter ends here: none goes negative, and the sessions open
        // (idle + active + being opened) stay within the bound.
        precondition(
            s.statistics.active >= 0 && s.statistics.total >= 0 && s.statistics.total <= options.maxSize
                && s.idle.count <= s.statistics.total,
            "pool counters out of bounds: total \(s.statistics.total), active \(s.statistics.active), "
                + "idle \(s.idle.count), max \(options.maxSize)")
    }

    /// Time from `start` to `now` (nanoseconds on the pool's clock) as a `Duration`, never negative.
    private static func elapsed(_ now: UInt64, since start: UInt64) -> Duration {
        .nanoseconds(Int64(clamping: now > start ? now - start : 0))
    }

    /// Gives back the slot of a session that failed to open; if a caller is waiting, reserves
    /// the slot again for it (to be opened by `openFor`), so no waiter is stranded while the
    /// pool has room.
    private func freeFailedSlot(_ s: inout State) -> (Waiter, Int)? {
        s.statistics.total -= 1
        s.statistics.active -= 1
        guard !s.closed, let waiter = s.waiters.popFirst() else {
            updateGauges(&s)
            return nil
        }
        let id = reserveSlot(&s)
        s.statistics.active += 1
        s.statistics.acquires += 1
        updateGauges(&s)
        return (waiter, id)
    }

    /// Opens session `id` for a waiter already removed from the queue. If the open fails, the
    /// waiter gets the error and the slot passes to the next waiter (each failure consumes one
    /// waiter, so this ends).
    private func openFor(_ waiter: Waiter, _ id: Int) {
        Task {
            do { waiter.continuation.resume(returning: try await self.open(id)) } catch {
                let next = self.state.withLock { s in self.freeFailedSlot(&s) }
                waiter.continuation.resume(throwing: error)
                if let (nextWaiter, nextID) = next { self.openFor(nextWaiter, nextID) }
            }
        }
    }

    private func open(_ id: Int) async throws -> Lease {
        let session = try await factory.makeSession(id: id)
        return Lease(session: session, id: id, createdAt: clock.nowNanos())
    }

    /// Thrown by `waitForRelease` when a session became available before the caller queued.
    private struct Recheck: Error {}

    private func waitForRelease() async throws -> Lease {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        let start = clock.nowNanos()
        let lease = try await TimedWait.suspend(
            clock: clock, deadline: start &+ options.acquireTimeout.clampedNanoseconds,
            decide: { (continuation: UnsafeContinuation<Lease, any Error>) -> TimedWait.Decision<Lease> in
                state.withLock { s -> TimedWait.Decision<Lease> in
                    if s.closed {
                        return .resolved(.failure(TransactionError(.adminShutdown, "the session pool is closed")))
                    }
                    if Task.isCancelled {
                        return .resolved(.failure(TransactionError(.queryCanceled, "session acquire cancelled")))
                    }
                    // A session released (or a slot freed) since `acquire` decided to wait went
                    // to no one: queueing now would wait for a release that may never come.
                    if !s.idle.isEmpty || s.statistics.total < options.maxSize { return .resolved(.failure(Recheck())) }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    s.statistics.waits += 1
                    updateGauges(&s)
                    return .queued
                }
            },
            expire: { why in self.expireWaiter(id, why) })
        let waited = max(1, clock.nanosSince(start) / 1000)
        state.withLock { _ = $0.statistics.waitMicros.record(waited) }
        return lease
    }

    private func expireWaiter(_ id: UInt64, _ why: TimedWait.Expiry) {
        let waiter: Waiter? = state.withLock { s -> Waiter? in
            guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = s.waiters.remove(at: index)
            if why == .timedOut { s.statistics.timeouts += 1 } else { s.statistics.cancellations += 1 }
            updateGauges(&s)
            return waiter
        }
        switch why {
        case .timedOut:
            waiter?.continuation.resume(
                throwing: TransactionError(
                    .tooManyConnections,
                    "no session became free within \(options.acquireTimeout) (pool of \(options.maxSize))"))
        case .cancelled:
            waiter?.continuation.resume(throwing: TransactionError(.queryCanceled, "session acquire cancelled"))
        }
    }
}
