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

    private typealias Waiter = UnsafeContinuation<Lease, any Error>

    /// The machine decides by ids; the shell keeps what the ids stand for.
    private struct State {
        var machine: PoolStateMachine
        /// Idle sessions by id (the machine's idle set).
        var idle: [Int: Lease] = [:]
        /// Queued waiters by id (the machine's queue).
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0

        /// The continuation of a waiter the machine took off its queue.
        mutating func take(_ id: UInt64) -> Waiter {
            guard let waiter = waiters.removeValue(forKey: id) else {
                preconditionFailure("waiter \(id) left the machine's queue but the shell does not know it")
            }
            return waiter
        }
    }

    private let factory: Factory
    /// The pool's bounds.
    public let options: PoolOptions
    private let clock: any EngineClock
    private let state: Mutex<State>

    /// Creates an empty pool timing waits, lifetimes and idle times on `clock`; call `prewarm`
    /// to open `minIdle` sessions.
    public init(factory: Factory, options: PoolOptions, clock: any EngineClock = SystemClock.shared) {
        self.factory = factory
        self.options = options
        self.clock = clock
        self.state = Mutex(State(machine: PoolStateMachine(options: options)))
    }

    /// Opens sessions until `minIdle` are open.
    public func prewarm() async throws {
        while let id = state.withLock({ $0.machine.prewarmSlot() }) {
            let lease: Lease
            do { lease = try await open(id) } catch {
                openFailed()
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
            let now = clock.nowNanos()
            let (next, reused, expired) = state.withLock { s -> (PoolStateMachine.Acquire, Lease?, [Lease]) in
                let (next, expiredIDs) = s.machine.acquire(now: now)
                let expired = expiredIDs.map { s.idle.removeValue(forKey: $0)! }
                guard case .reuse(let session, _) = next else { return (next, nil, expired) }
                return (next, s.idle.removeValue(forKey: session)!, expired)
            }
            for lease in expired { await factory.close(lease.session) }
            switch next {
            case .reuse(_, let check):
                let lease = reused!
                if check, !(await factory.isHealthy(lease.session)) {
                    await factory.close(lease.session)
                    passFreedSlot { $0.unhealthy() }
                    continue
                }
                return lease
            case .open(let id):
                do { return try await open(id) } catch {
                    openFailed()
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
        let (next, waiter) = state.withLock { s -> (PoolStateMachine.Release, Waiter?) in
            let next = s.machine.release(session: lease.id, createdAt: lease.createdAt, discard: discard, now: now)
            switch next {
            case .handOff(let id), .closeAndOpenFor(let id, _): return (next, s.take(id))
            case .idle:
                s.idle[lease.id] = lease
                return (next, nil)
            case .close: return (next, nil)
            }
        }
        switch next {
        case .handOff: waiter!.resume(returning: lease)
        case .idle: break
        case .close, .closeAndOpenFor:
            let factory = factory
            Task {
                await factory.close(lease.session)
                if case .closeAndOpenFor(_, let id) = next { self.openFor(waiter!, id) }
            }
        }
    }

    /// The pool's counters and gauges.
    public var statistics: PoolStatistics { state.withLock { $0.machine.statistics } }

    /// Closes every idle session; leased ones are closed as they come back. Waiters fail (57P01).
    public func close() async {
        let (idle, waiters) = state.withLock { s -> ([Lease], [Waiter]) in
            let (idleIDs, waiterIDs) = s.machine.close()
            return (idleIDs.map { s.idle.removeValue(forKey: $0)! }, waiterIDs.map { s.take($0) })
        }
        for waiter in waiters {
            waiter.resume(throwing: TransactionError(.adminShutdown, "the session pool is closed"))
        }
        for lease in idle { await factory.close(lease.session) }
    }

    // MARK: - Internals

    /// A session failed to open: frees its slot, or opens one for the waiter the slot passes to.
    private func openFailed() {
        passFreedSlot { $0.openFailed() }
    }

    /// Runs a machine step that frees a slot; if the slot passes to a waiter, opens a session for it.
    private func passFreedSlot(_ step: (inout PoolStateMachine) -> (waiter: UInt64, id: Int)?) {
        let next = state.withLock { s -> (Waiter, Int)? in
            guard let (waiter, id) = step(&s.machine) else { return nil }
            return (s.take(waiter), id)
        }
        if let (waiter, id) = next { openFor(waiter, id) }
    }

    /// Opens session `id` for a waiter already removed from the queue. If the open fails, the
    /// waiter gets the error and the slot passes to the next waiter (each failure consumes one
    /// waiter, so this ends).
    private func openFor(_ waiter: Waiter, _ id: Int) {
        Task {
            do { waiter.resume(returning: try await self.open(id)) } catch {
                waiter.resume(throwing: error)
                self.openFailed()
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
            decide: { continuation in
                let decision = state.withLock { s in
                    let decision = s.machine.queue(waiter: id, cancelled: Task.isCancelled)
                    if decision == .queued { s.waiters[id] = continuation }
                    return decision
                }
                switch decision {
                case .queued: return .queued
                case .closed: return .resolved(.failure(TransactionError(.adminShutdown, "the session pool is closed")))
                case .cancelled:
                    return .resolved(.failure(TransactionError(.queryCanceled, "session acquire cancelled")))
                case .recheck: return .resolved(.failure(Recheck()))
                }
            },
            expire: { why in self.expireWaiter(id, why) })
        let waited = clock.nanosSince(start) / 1000
        state.withLock { $0.machine.recordWait(micros: waited) }
        return lease
    }

    private func expireWaiter(_ id: UInt64, _ why: TimedWait.Expiry) {
        let waiter = state.withLock { s in s.machine.expire(waiter: id, why) ? s.take(id) : nil }
        switch why {
        case .timedOut:
            waiter?.resume(
                throwing: TransactionError(
                    .tooManyConnections,
                    "no session became free within \(options.acquireTimeout) (pool of \(options.maxSize))"))
        case .cancelled:
            waiter?.resume(throwing: TransactionError(.queryCanceled, "session acquire cancelled"))
        }
    }
}
