import Storage
import Synchronization

/// The runtime's one wait-with-deadline-and-cancellation, shared by lock waits and session
/// acquires: the owner decides under its own mutex (grant now, refuse, or queue the
/// continuation), and this shell suspends, arms the deadline on the injected clock, and routes a
/// deadline or a cancellation back to the owner, which fails the waiter only if it is still
/// queued (a grant that won the race stands).
///
/// Races it closes: a cancellation before the waiter is queued is seen by the owner's decision
/// (`Task.isCancelled` is read under the owner's mutex, and `onCancel` takes that mutex too, so
/// one of the two always sees the other); a deadline or cancellation after a grant finds nothing
/// to expire; the timer task is cancelled once the wait ends, whichever way.
enum TimedWait {
    /// How the owner decided, under its mutex, with the continuation in hand.
    enum Decision<Value: Sendable> {
        /// Resume at once with this result (granted, refused, cancelled, closed).
        case resolved(Result<Value, any Error>)
        /// Queued: the owner resumes the continuation later, or `expire` takes it back.
        case queued
    }

    /// Why a queued wait is taken back by its owner.
    enum Expiry: Sendable {
        /// The deadline passed on the clock.
        case timedOut
        /// The waiting task was cancelled.
        case cancelled
    }

    /// Suspends until the owner resumes the continuation `decide` queued, or until `deadline`
    /// (nanoseconds on `clock`; nil waits without one) or cancellation make the owner `expire` it.
    ///
    /// - Parameters:
    ///   - decide: runs once, synchronously, before the task suspends; it must take the owner's
    ///     mutex, read `Task.isCancelled` under it, and either resolve or queue the continuation.
    ///   - expire: takes the waiter off the owner's queue if it is still there and fails it;
    ///     must do nothing if it is gone (granted or already expired). May run on any thread.
    static func suspend<Value: Sendable>(
        clock: any EngineClock, deadline: UInt64?,
        decide: (UnsafeContinuation<Value, any Error>) -> Decision<Value>,
        expire: @escaping @Sendable (Expiry) -> Void
    ) async throws -> Value {
        let timer = TimerBox()
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
                switch decide(continuation) {
                case .resolved(let result):
                    continuation.resume(with: result)
                case .queued:
                    guard let deadline else { return }
                    timer.set(
                        Task {
                            try await clock.sleep(untilNanos: deadline)
                            expire(.timedOut)
                        })
                }
            }
        } onCancel: {
            expire(.cancelled)
        }
    }
}

/// Holds the timer task of one wait so it can be cancelled once the wait ends.
private final class TimerBox: Sendable {
    private let task = Mutex<Task<Void, any Error>?>(nil)

    func set(_ newTask: Task<Void, any Error>) {
        task.withLock { $0 = newTask }
    }

    func cancel() {
        task.withLock { $0?.cancel() }
    }
}
