import Storage
import Testing

@testable import Runtime

/// The session pool's pure state machine, driven step by step with explicit times: sessions and
/// waiters are ids, and no task, clock or sleep is involved.
@Suite("Pool state machine")
struct PoolStateMachineTests {
    typealias Machine = PoolStateMachine

    static func machine(
        maxSize: Int, minIdle: Int = 0, maxLifetime: Duration = .seconds(100), idleTimeout: Duration = .seconds(10),
        healthCheckAfterIdle: Duration = .seconds(1)
    ) -> Machine {
        Machine(
            options: PoolOptions(
                maxSize: maxSize, minIdle: minIdle, maxLifetime: maxLifetime, idleTimeout: idleTimeout,
                healthCheckAfterIdle: healthCheckAfterIdle))
    }

    static let second: UInt64 = 1_000_000_000

    static func openedID(_ next: Machine.Acquire) -> Int? {
        if case .open(let id) = next { return id }
        return nil
    }

    @Test("opens up to maxSize, then waiters queue and are handed released sessions in order")
    func openWaitHandOff() {
        var pool = Self.machine(maxSize: 2)
        #expect(Self.openedID(pool.acquire(now: 0).next) == 1)
        #expect(Self.openedID(pool.acquire(now: 0).next) == 2)
        guard case .wait = pool.acquire(now: 0).next else {
            Issue.record("a full pool makes the caller wait")
            return
        }
        #expect(pool.queue(waiter: 1, cancelled: false) == .queued)
        #expect(pool.queue(waiter: 2, cancelled: false) == .queued)
        #expect(pool.statistics.waiting == 2 && pool.statistics.active == 2)
        #expect(pool.release(session: 1, createdAt: 0, discard: false, now: 1) == .handOff(waiter: 1))
        #expect(pool.release(session: 2, createdAt: 0, discard: false, now: 1) == .handOff(waiter: 2))
        #expect(pool.release(session: 1, createdAt: 0, discard: false, now: 2) == .idle)
        #expect(pool.statistics.active == 1 && pool.statistics.idle == 1 && pool.statistics.total == 2)
        #expect(pool.statistics.acquires == 4 && pool.statistics.waits == 2)
    }

    @Test("a waiter that queues after a slot freed is told to recheck; closed and cancelled are refused")
    func queueRefusals() {
        var pool = Self.machine(maxSize: 1)
        _ = pool.acquire(now: 0)
        _ = pool.release(session: 1, createdAt: 0, discard: false, now: 0)
        #expect(pool.queue(waiter: 1, cancelled: false) == .recheck, "a session is idle")
        _ = pool.acquire(now: 0)
        #expect(pool.queue(waiter: 2, cancelled: true) == .cancelled)
        #expect(pool.statistics.waiting == 0)
        #expect(pool.queue(waiter: 3, cancelled: false) == .queued)
        let (idle, waiters) = pool.close()
        #expect(idle.isEmpty && waiters == [3])
        #expect(pool.queue(waiter: 4, cancelled: false) == .closed)
        #expect(
            pool.release(session: 1, createdAt: 0, discard: false, now: 0) == .close, "closed: sessions close on return"
        )
        #expect(pool.statistics.total == 0 && pool.statistics.active == 0)
    }

    @Test("an expired or discarded session is closed, and the first waiter gets a new one in its slot")
    func expiryOpensForWaiter() {
        var pool = Self.machine(maxSize: 1, maxLifetime: .seconds(5))
        _ = pool.acquire(now: 0)
        #expect(pool.queue(waiter: 1, cancelled: false) == .queued)
        #expect(
            pool.release(session: 1, createdAt: 0, discard: false, now: 5 * Self.second)
                == .closeAndOpenFor(waiter: 1, id: 2), "a session past maxLifetime is replaced for the waiter")
        #expect(pool.statistics.total == 1 && pool.statistics.closed == 1 && pool.statistics.created == 2)
        #expect(pool.release(session: 2, createdAt: 5 * Self.second, discard: true, now: 5 * Self.second) == .close)
        #expect(pool.statistics.total == 0 && pool.statistics.active == 0)
    }

    @Test("idle sessions past their idle timeout (beyond minIdle) or lifetime are closed at the next acquire")
    func idleExpiry() {
        var pool = Self.machine(maxSize: 3, minIdle: 1, maxLifetime: .seconds(100), idleTimeout: .seconds(10))
        for _ in 0..<3 { _ = pool.acquire(now: 0) }
        for session in 1...3 { _ = pool.release(session: session, createdAt: 0, discard: false, now: 0) }
        #expect(pool.statistics.idle == 3)
        let (next, expired) = pool.acquire(now: 10 * Self.second)
        // Newest first: two idle too long are closed while more than minIdle are open; the last is kept.
        #expect(expired == [3, 2])
        guard case .reuse(let session, let check) = next else {
            Issue.record("the session kept for minIdle is reused")
            return
        }
        #expect(session == 1 && check, "idle 10 s > healthCheckAfterIdle: checked before use")
        #expect(pool.statistics.total == 1 && pool.statistics.closed == 2)
        _ = pool.release(session: 1, createdAt: 0, discard: false, now: 100 * Self.second)
        #expect(pool.statistics.total == 0, "past maxLifetime on release")
    }

    @Test("an unhealthy session or a failed open frees its slot, or passes it to the first waiter")
    func failedSessionsServeWaiters() {
        var pool = Self.machine(maxSize: 1, healthCheckAfterIdle: .zero)
        _ = pool.acquire(now: 0)
        _ = pool.release(session: 1, createdAt: 0, discard: false, now: 0)
        guard case .reuse(_, check: true) = pool.acquire(now: 1).next else {
            Issue.record("an idle session is reused with a health check")
            return
        }
        #expect(pool.queue(waiter: 1, cancelled: false) == .queued, "the pool is full while the check runs")
        let passed = pool.unhealthy()
        #expect(passed?.waiter == 1 && passed?.id == 2, "the slot goes to the waiter, not to a newcomer")
        #expect(pool.statistics.unhealthy == 1 && pool.statistics.total == 1 && pool.statistics.active == 1)
        let freed = pool.openFailed()
        #expect(freed == nil, "no waiter left: the slot is free")
        #expect(pool.statistics.total == 0 && pool.statistics.active == 0)
        #expect(Self.openedID(pool.acquire(now: 2).next) == 3)
    }

    @Test("an expiry takes a waiter back once; after a hand-off it finds nothing")
    func expiry() {
        var pool = Self.machine(maxSize: 1)
        _ = pool.acquire(now: 0)
        #expect(pool.queue(waiter: 1, cancelled: false) == .queued)
        #expect(pool.queue(waiter: 2, cancelled: false) == .queued)
        let first = pool.expire(waiter: 1, .timedOut)
        let again = pool.expire(waiter: 1, .timedOut)
        #expect(first && !again, "an expiry takes a waiter back once")
        #expect(
            pool.release(session: 1, createdAt: 0, discard: false, now: 0) == .handOff(waiter: 2),
            "the remaining waiter gets the session")
        let afterHandOff = pool.expire(waiter: 2, .cancelled)
        #expect(!afterHandOff)
        #expect(pool.statistics.timeouts == 1 && pool.statistics.cancellations == 0 && pool.statistics.waiting == 0)
    }

    @Test("prewarm slots count as active until released, and stop at minIdle")
    func prewarm() {
        var pool = Self.machine(maxSize: 4, minIdle: 2)
        #expect(pool.prewarmSlot() == 1)
        #expect(pool.statistics.active == 1)
        _ = pool.release(session: 1, createdAt: 0, discard: false, now: 0)
        #expect(pool.prewarmSlot() == 2)
        _ = pool.release(session: 2, createdAt: 0, discard: false, now: 0)
        #expect(pool.prewarmSlot() == nil)
        #expect(pool.statistics.idle == 2 && pool.statistics.active == 0 && pool.statistics.total == 2)
    }
}
