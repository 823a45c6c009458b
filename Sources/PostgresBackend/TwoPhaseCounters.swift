import Engine
import Synchronization

/// One region's L2 coordinator counters on the PostgreSQL backend: two-phase transactions it
/// committed and aborted, coordinator crashes a test hook caused, decisions an in-doubt
/// resolution had taken first, phase-two messages that failed (left to recovery), and the
/// in-doubt prepared transactions resolved on the region's primary. Guarded by a mutex (never
/// held across an `await`).
final class TwoPhaseCounters: Sendable {
    struct Values: Sendable {
        var commits: UInt64 = 0
        var aborts: UInt64 = 0
        var coordinatorCrashes: UInt64 = 0
        var decisionsOverruled: UInt64 = 0
        var phaseTwoFailures: UInt64 = 0
        var inDoubtCommitted: UInt64 = 0
        var inDoubtAborted: UInt64 = 0
    }

    private let state = Mutex(Values())

    /// The values now.
    var values: Values { state.withLock { $0 } }

    /// Applies `change` to the values.
    func update(_ change: (inout Values) -> Void) {
        state.withLock { change(&$0) }
    }

    /// The counters by name, as `BackendCounters` carries them.
    func named() -> [String: Double] {
        let v = values
        return [
            "l2_2pc_commits": Double(v.commits),
            "l2_2pc_aborts": Double(v.aborts),
            "l2_coordinator_crashes": Double(v.coordinatorCrashes),
            "l2_decisions_overruled": Double(v.decisionsOverruled),
            "l2_phase_two_failures": Double(v.phaseTwoFailures),
            "l2_in_doubt_committed": Double(v.inDoubtCommitted),
            "l2_in_doubt_aborted": Double(v.inDoubtAborted),
        ]
    }
}

/// The test hook that crashes the coordinator at a step of a transfer (given the step and the
/// request's id): the coordinator then stops where it is, answers 40003, and leaves its
/// prepared transactions (and, after the decision, its decision) to in-doubt resolution. Boxed
/// in a final class so the mutex holding it does not re-thunk the closure.
final class CoordinatorCrashHook: Sendable {
    let body: @Sendable (TwoPhaseStep, UInt64) -> Bool

    init(_ body: @escaping @Sendable (TwoPhaseStep, UInt64) -> Bool) {
        self.body = body
    }
}

/// Phase-two work running after the acknowledgement: counted so the pools close only once it
/// is done (the audit must not race a COMMIT PREPARED still on its way).
final class PhaseTwoTracker: Sendable {
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Records phase two started.
    func begin() { state.withLock { $0.running += 1 } }

    /// Records phase two finished, waking the waiters when none is left.
    func end() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running -= 1
            guard state.running == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no phase two is running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
