import Storage
import Synchronization
import Testing

@testable import Runtime

/// A minimal owner of waiters, as the lock manager and the pool are: a queue under a mutex.
private final class Owner: Sendable {
    struct Timeout: Error, Equatable {}
    struct Cancelled: Error, Equatable {}

    private let queue = Mutex<[UInt64: UnsafeContinuation<Int, any Error>]>([:])

    var queued: Int { queue.withLock { $0.count } }

    /// Waits as the runtime's owners do; `immediate` resolves at once instead of queueing.
    func wait(id: UInt64, clock: ManualClock, deadline: UInt64?, immediate: Int? = nil) async throws -> Int {
        try await TimedWait.suspend(
            clock: clock, deadline: deadline,
            decide: { continuation in
                queue.withLock { q -> TimedWait.Decision<Int> in
                    if Task.isCancelled { return .resolved(.failure(Cancelled())) }
                    if let immediate { return .resolved(.success(immediate)) }
                    q[id] = continuation
                    return .queued
                }
            },
            expire: { why in
                let continuation = self.queue.withLock { $0.removeValue(forKey: id) }
                continuation?.resume(throwing: why == .timedOut ? Timeout() as any Error : Cancelled())
            })
    }

    /// Resumes waiter `id` if it is still queued (a grant); false if it was gone.
    @discardableResult
    func grant(_ id: UInt64, _ value: Int) -> Bool {
        guard let continuation = queue.withLock({ $0.removeValue(forKey: id) }) else { return false }
        continuation.resume(returning: value)
        return true
    }
}

/// The one wait-with-deadline-and-cancellation the lock manager and the pool share, driven by a
/// manual clock: no sleeps, every ordering set by the test.
@Suite("Timed wait")
struct TimedWaitTests {
    @Test("a queued wait times out at its deadline, not a nanosecond before")
    func timesOutAtDeadline() async throws {
        let clock = ManualClock(start: 1_000)
        let owner = Owner()
        let waiter = Task { try await owner.wait(id: 1, clock: clock, deadline: 1_500) }
        await waitUntil("the timer is armed") { clock.sleeperCount == 1 && owner.queued == 1 }
        clock.advance(by: 499)
        #expect(owner.queued == 1 && clock.sleeperCount == 1)
        clock.advance(by: 1)
        await #expect(throws: Owner.Timeout.self) { try await waiter.value }
        #expect(owner.queued == 0)
    }

    @Test("a grant before the deadline wins, and its timer is cancelled")
    func grantCancelsTimer() async throws {
        let clock = ManualClock()
        let owner = Owner()
        let waiter = Task { try await owner.wait(id: 7, clock: clock, deadline: 100) }
        await waitUntil("the timer is armed") { clock.sleeperCount == 1 && owner.queued == 1 }
        #expect(owner.grant(7, 42))
        #expect(try await waiter.value == 42)
        await waitUntil("the timer is gone") { clock.sleeperCount == 0 }
        clock.advance(by: 1_000)  // a late deadline finds nothing to expire
        #expect(owner.queued == 0)
    }

    @Test("cancelling the waiting task fails the wait and leaves nothing queued or armed")
    func cancellation() async throws {
        let clock = ManualClock()
        let owner = Owner()
        let waiter = Task { try await owner.wait(id: 3, clock: clock, deadline: 100) }
        await waitUntil("the timer is armed") { clock.sleeperCount == 1 && owner.queued == 1 }
        waiter.cancel()
        await #expect(throws: Owner.Cancelled.self) { try await waiter.value }
        #expect(owner.queued == 0)
        await waitUntil("the timer is gone") { clock.sleeperCount == 0 }
        #expect(!owner.grant(3, 1), "a cancelled waiter cannot be granted")
    }

    @Test("a task cancelled before it waits is refused by the owner's decision and never queued")
    func cancelledBeforeWaiting() async throws {
        let clock = ManualClock()
        let owner = Owner()
        let gate = Gate()
        let waiter = Task {
            await gate.wait()
            return try await owner.wait(id: 1, clock: clock, deadline: 100)
        }
        waiter.cancel()
        gate.open()
        await #expect(throws: Owner.Cancelled.self) { try await waiter.value }
        #expect(owner.queued == 0 && clock.sleeperCount == 0)
    }

    @Test("a decision that resolves at once arms no timer; no deadline waits for a grant only")
    func resolvedAndUnbounded() async throws {
        let clock = ManualClock()
        let owner = Owner()
        #expect(try await owner.wait(id: 1, clock: clock, deadline: 10, immediate: 5) == 5)
        #expect(clock.sleeperCount == 0)
        let waiter = Task { try await owner.wait(id: 2, clock: clock, deadline: nil) }
        await waitUntil("it queues") { owner.queued == 1 }
        clock.advance(by: 1_000_000)
        #expect(owner.queued == 1 && clock.sleeperCount == 0, "no deadline, no timeout")
        owner.grant(2, 9)
        #expect(try await waiter.value == 9)
    }
}
