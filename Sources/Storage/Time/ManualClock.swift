import Synchronization

/// A clock that moves only when told to: deterministic simulations (Raft, 2PC) and tests drive every timer,
/// timeout and batch window with it, with no sleeps. `advance(by:)` resumes, in deadline order, every sleeper
/// whose deadline has been reached. The wall clock can be stepped independently (clock-skew faults).
public final class ManualClock: EngineClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: UInt64
        var wallOffset: Int64
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    /// A clock at monotonic time `start` whose wall clock reads `wallStart` at that moment.
    public init(start: UInt64 = 0, wallStart: UInt64 = 1_700_000_000_000_000_000) {
        state = Mutex(State(now: start, wallOffset: Int64(bitPattern: wallStart &- start)))
    }

    public func nowNanos() -> UInt64 { state.withLock { $0.now } }

    public func wallNanos() -> UInt64 {
        state.withLock { UInt64(bitPattern: Int64(bitPattern: $0.now) &+ $0.wallOffset) }
    }

    /// How many tasks are suspended in `sleep` (tests wait for a task to reach its timer before advancing).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline any sleeper waits for, if one does.
    public var nextDeadline: UInt64? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    public func sleep(untilNanos deadline: UInt64) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { s in
                    if deadline <= s.now { return true }
                    if Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> Sleeper? in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Moves monotonic (and wall) time forward and resumes every sleeper whose deadline is now reached.
    public func advance(by nanoseconds: UInt64) {
        let due = state.withLock { s -> [Sleeper] in
            s.now &+= nanoseconds
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }.sorted { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves time to `deadline` if it is later than now (resuming due sleepers).
    public func advance(to deadline: UInt64) {
        let delta = state.withLock { deadline > $0.now ? deadline - $0.now : 0 }
        advance(by: delta)
    }

    /// Steps the wall clock by `offset` nanoseconds (negative steps it back); monotonic time is unchanged.
    public func stepWall(by offset: Int64) {
        state.withLock { $0.wallOffset &+= offset }
    }
}
