import Runtime
import Storage
import Synchronization
import Testing

/// A test double of `SessionFactory`: sessions are numbers; it records every open and close,
/// can mark sessions unhealthy, and can hold or fail an open.
final class CountingFactory: SessionFactory {
    struct Session: Sendable, Hashable {
        let id: Int
    }

    struct OpenFailed: Error {}

    private struct State {
        var opened: [Int] = []
        var closed: Set<Int> = []
        var closedTwice = 0
        var unhealthy: Set<Int> = []
        var failingOpens: Set<Int> = []
        var heldOpen: (id: Int, gate: Gate)?
    }

    private let state = Mutex(State())

    func makeSession(id: Int) async throws -> Session {
        let gate = state.withLock { $0.heldOpen?.id == id ? $0.heldOpen?.gate : nil }
        await gate?.wait()
        try state.withLock { s in
            guard !s.failingOpens.contains(id) else { throw OpenFailed() }
            s.opened.append(id)
        }
        return Session(id: id)
    }

    func isHealthy(_ session: Session) async -> Bool {
        state.withLock { !$0.unhealthy.contains(session.id) }
    }

    func close(_ session: Session) async {
        state.withLock { s in
            if !s.closed.insert(session.id).inserted { s.closedTwice += 1 }
        }
    }

    var opened: [Int] { state.withLock { $0.opened } }
    var closed: Set<Int> { state.withLock { $0.closed } }
    var closedTwice: Int { state.withLock { $0.closedTwice } }
    /// Sessions opened and not closed.
    var open: Int { state.withLock { $0.opened.count - $0.closed.count } }

    func markUnhealthy(_ id: Int) { state.withLock { _ = $0.unhealthy.insert(id) } }
    func failOpen(_ id: Int) { state.withLock { _ = $0.failingOpens.insert(id) } }
    func holdOpen(_ id: Int, until gate: Gate) { state.withLock { $0.heldOpen = (id, gate) } }
}

/// A one-shot gate: `wait` returns once `open` was called.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { s -> Bool in
                if s.isOpen { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s in
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }
}

struct BodyFailure: Error {}

/// Which sessions are in use right now, the most at once, and any session leased twice.
final class LeaseTracker: Sendable {
    private let state = Mutex<(ids: Set<Int>, most: Int, doubleLeases: Int)>(([], 0, 0))

    func begin(_ id: Int) {
        state.withLock { s in
            if !s.ids.insert(id).inserted { s.doubleLeases += 1 }
            s.most = max(s.most, s.ids.count)
        }
    }

    func end(_ id: Int) { state.withLock { _ = $0.ids.remove(id) } }

    var most: Int { state.withLock { $0.most } }
    var doubleLeases: Int { state.withLock { $0.doubleLeases } }
}

@Suite("Session pool")
struct SessionPoolTests {
    @Test("never more than maxSize sessions open or in use, and no session leased twice")
    func bounded() async throws {
        let factory = CountingFactory()
        // A clock that never moves: the acquire timeout cannot fire however long the machine takes to schedule
        // 64 tasks (a loaded 2-core machine once took over 5 s); this test is about bounds, not time.
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 4), clock: ManualClock())
        let inUse = LeaseTracker()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    _ = try await pool.withSession { session in
                        inUse.begin(session.id)
                        for _ in 0..<3 { await Task.yield() }
                        inUse.end(session.id)
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = pool.statistics
        #expect(inUse.most <= 4)
        #expect(inUse.doubleLeases == 0)
        #expect(statistics.highWater <= 4)
        #expect(factory.opened.count <= 4)
        #expect(statistics.acquires == 64)
        #expect(statistics.active == 0 && statistics.idle == statistics.total)
    }

    @Test("waiters are served first come, first served")
    func fifo() async throws {
        let pool = SessionPool(
            factory: CountingFactory(), options: PoolOptions(maxSize: 1, acquireTimeout: .seconds(30)))
        let lease = try await pool.acquire()
        let served = EventLog<Int>()
        var waiters: [Task<Void, any Error>] = []
        for waiter in 1...3 {
            waiters.append(Task { _ = try await pool.withSession { _ in served.append(waiter) } })
            await waitUntil("waiter \(waiter) queues") { pool.statistics.waiting == waiter }
        }
        pool.release(lease)
        for waiter in waiters { try await waiter.value }
        #expect(served.all == [1, 2, 3])
        #expect(pool.statistics.waits == 3)
    }

    @Test("an acquire that waits beyond acquireTimeout fails with 53300")
    func acquireTimeout() async throws {
        let clock = ManualClock()
        let pool = SessionPool(
            factory: CountingFactory(), options: PoolOptions(maxSize: 1, acquireTimeout: .milliseconds(50)),
            clock: clock)
        let lease = try await pool.acquire()
        let code = await errorCodeAfterTimeout(clock, .milliseconds(50)) { _ = try await pool.acquire() }
        #expect(code == .tooManyConnections)
        #expect(TransactionError.Code.tooManyConnections.rawValue == "53300")
        #expect(pool.statistics.timeouts == 1)
        #expect(pool.statistics.waiting == 0)
        pool.release(lease)
        #expect(pool.statistics.idle == 1 && pool.statistics.active == 0)
    }

    @Test("cancelling a waiting acquire fails it with 57014 and leaks nothing")
    func cancelledAcquire() async throws {
        let factory = CountingFactory()
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 1, acquireTimeout: .seconds(30)))
        let lease = try await pool.acquire()
        let waiter = Task { await errorCode { _ = try await pool.acquire() } }
        await waitUntil("the acquire waits") { pool.statistics.waiting == 1 }
        waiter.cancel()
        #expect(await waiter.value == .queryCanceled)
        #expect(pool.statistics.cancellations == 1 && pool.statistics.waiting == 0)
        pool.release(lease)
        let statistics = pool.statistics
        #expect(statistics.active == 0 && statistics.idle == 1 && statistics.total == 1)
        let again = try await pool.acquire()
        #expect(again.session == lease.session, "the one session is reused, not leaked")
        pool.release(again)
        #expect(factory.opened == [1])
    }

    /// 10,000 leases by many tasks: bodies throw at random, some discard their session, and
    /// random tasks are cancelled at any point of their acquire or body.
    @Test("no leak after 10,000 acquire/release cycles with random errors and cancellations")
    func noLeakUnderChurn() async throws {
        let seed: UInt64 = 0x5EED_0001
        var random = SplitMix64(seed: seed)
        let factory = CountingFactory()
        let pool = SessionPool(
            factory: factory, options: PoolOptions(maxSize: 4, acquireTimeout: .seconds(10)), clock: ManualClock())
        let unexpected = EventLog<String>()
        let rounds = 625
        let perRound = 16
        for _ in 0..<rounds {
            var tasks: [Task<Void, Never>] = []
            for _ in 0..<perRound {
                let failBody = random.next() % 5 == 0
                let discard = random.next() % 2 == 0
                let yields = Int(random.next() % 3)
                tasks.append(
                    Task {
                        do {
                            _ = try await pool.withSession(discardOnError: discard) { _ in
                                for _ in 0..<yields { await Task.yield() }
                                if failBody { throw BodyFailure() }
                                try Task.checkCancellation()
                            }
                        } catch is BodyFailure, is CancellationError {
                        } catch let error as TransactionError where error.code == .queryCanceled {
                        } catch {
                            unexpected.append("\(error)")
                        }
                    })
            }
            for task in tasks where random.next() % 4 == 0 { task.cancel() }
            for task in tasks { await task.value }
        }
        #expect(unexpected.all.isEmpty, "seed \(seed): \(unexpected.all)")
        // Sessions discarded on error are closed by a task of their own; wait for those closes.
        await waitUntil("every discarded session is closed") { UInt64(factory.closed.count) == pool.statistics.closed }
        let statistics = pool.statistics
        #expect(statistics.active == 0, "seed \(seed)")
        #expect(statistics.waiting == 0, "seed \(seed)")
        #expect(statistics.total <= 4, "seed \(seed)")
        #expect(statistics.idle == statistics.total, "seed \(seed)")
        #expect(factory.open == statistics.total, "seed \(seed): every opened session is idle or closed")
        #expect(factory.closedTwice == 0, "seed \(seed)")
        #expect(statistics.created == UInt64(factory.opened.count), "seed \(seed)")
    }

    @Test("a session past maxLifetime is closed on release, and a waiter gets a new one")
    func maxLifetime() async throws {
        let factory = CountingFactory()
        let pool = SessionPool(
            factory: factory, options: PoolOptions(maxSize: 1, acquireTimeout: .seconds(30), maxLifetime: .zero))
        let first = try await pool.acquire()
        let waiter = Task { try await pool.acquire() }
        await waitUntil("the acquire waits") { pool.statistics.waiting == 1 }
        pool.release(first)
        let second = try await waiter.value
        #expect(second.session.id == 2, "the expired session 1 is replaced")
        pool.release(second)
        let third = try await pool.acquire()
        #expect(third.session.id == 3)
        pool.release(third)
        await waitUntil("the expired sessions are closed") { factory.closed.count == 3 }
        #expect(factory.closed == [1, 2, 3])
        #expect(pool.statistics.total == 0 && pool.statistics.highWater == 1)
    }

    @Test("an unhealthy idle session is closed and replaced")
    func unhealthy() async throws {
        let factory = CountingFactory()
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 2, healthCheckAfterIdle: .zero))
        let first = try await pool.acquire()
        pool.release(first)
        let reused = try await pool.acquire()
        #expect(reused.session.id == 1, "a healthy idle session is reused")
        pool.release(reused)
        factory.markUnhealthy(1)
        let replaced = try await pool.acquire()
        #expect(replaced.session.id == 2)
        pool.release(replaced)
        #expect(factory.closed == [1])
        let statistics = pool.statistics
        #expect(statistics.unhealthy == 1 && statistics.closed == 1 && statistics.total == 1 && statistics.idle == 1)
    }

    @Test("prewarm opens minIdle sessions")
    func prewarm() async throws {
        let factory = CountingFactory()
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 4, minIdle: 2))
        try await pool.prewarm()
        #expect(factory.opened == [1, 2])
        #expect(pool.statistics.idle == 2 && pool.statistics.total == 2)
        #expect(pool.statistics.active == 0, "prewarmed sessions are idle, not leased (nor below zero)")
    }

    @Test("a failed open frees its slot for a waiter")
    func failedOpenServesWaiter() async throws {
        let factory = CountingFactory()
        let gate = Gate()
        factory.holdOpen(1, until: gate)
        factory.failOpen(1)
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 1, acquireTimeout: .seconds(30)))
        let opener = Task { () -> (any Error)? in
            do {
                _ = try await pool.acquire()
                return nil
            } catch { return error }
        }
        await waitUntil("session 1 is being opened") { gate.hasWaiters }
        let waiter = Task { try await pool.acquire() }
        await waitUntil("the second acquire waits") { pool.statistics.waiting == 1 }
        gate.open()
        #expect(await opener.value is CountingFactory.OpenFailed, "the factory's error reaches the caller that opened")
        let lease = try await waiter.value
        #expect(lease.session.id == 2)
        pool.release(lease)
        #expect(pool.statistics.total == 1 && pool.statistics.active == 0)
    }

    @Test("close fails waiters with 57P01 and closes leased sessions as they come back")
    func close() async throws {
        let factory = CountingFactory()
        let pool = SessionPool(factory: factory, options: PoolOptions(maxSize: 2, acquireTimeout: .seconds(30)))
        let idle = try await pool.acquire()
        let leased = try await pool.acquire()
        pool.release(idle)
        let other = try await pool.acquire()
        let waiter = Task { await errorCode { _ = try await pool.acquire() } }
        await waitUntil("the acquire waits") { pool.statistics.waiting == 1 }
        await pool.close()
        #expect(await waiter.value == .adminShutdown)
        pool.release(other)
        pool.release(leased)
        await waitUntil("returned sessions are closed") { factory.closed.count == 2 }
        #expect(factory.closed == [1, 2])
        #expect(pool.statistics.total == 0 && pool.statistics.idle == 0)
    }
}
