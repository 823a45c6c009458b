import DequeModule
import Storage
import Synchronization

/// How long a lock request may wait.
public enum LockWait: Sendable, Hashable {
    /// Fail at once with 55P03 if the row is held (NOWAIT).
    case noWait
    /// Wait at most this long, then fail with 55P03 (`lock_timeout`).
    case timeout(Duration)
}

/// Row write locks with FIFO wait queues, lock timeouts, NOWAIT and deadlock detection.
///
/// The lock manager is the authority on who may write a row; storage's row locks mirror it.
/// Each waiting transaction waits for exactly one row, so the wait-for graph is a set of paths
/// from a waiter to the holder of the row it wants. A request that would close a cycle fails
/// at once with 40P01: the requester is the one victim, and no other transaction in the cycle
/// is disturbed. On release, each row passes to the first transaction in its queue (no
/// barging), and a newcomer queues behind existing waiters.
public final class LockManager: Sendable {
    private struct Waiter {
        let id: UInt64
        let xid: TransactionID
        let continuation: UnsafeContinuation<Void, any Error>
    }

    private struct State {
        var holders: [AccountID: TransactionID] = [:]
        var queues: [AccountID: Deque<Waiter>] = [:]
        var held: [TransactionID: [AccountID]] = [:]
        /// The row each waiting transaction waits for.
        var waitingFor: [TransactionID: AccountID] = [:]
        var nextWaiterID: UInt64 = 0
        var statistics = LockStatistics()
    }

    private let state = Mutex(State())

    /// Creates an empty lock manager.
    public init() {}

    /// Acquires the write lock on `key` for `xid`, waiting per `wait`. Returns the nanoseconds
    /// waited. Throws 40P01 if waiting would deadlock, 55P03 on NOWAIT or timeout, 57014 if the
    /// calling task is cancelled while waiting.
    @discardableResult
    public func acquire(_ key: AccountID, for xid: TransactionID, wait: LockWait) async throws(TransactionError)
        -> UInt64
    {
        let grantedAtOnce = state.withLock { s -> Bool in
            if s.holders[key] == xid { return true }
            guard s.holders[key] == nil, s.queues[key]?.isEmpty ?? true else { return false }
            s.holders[key] = xid
            s.held[xid, default: []].append(key)
            s.statistics.immediateGrants += 1
            return true
        }
        if grantedAtOnce { return 0 }
        let start = ContinuousClock.now
        do {
            try await waitInQueue(key, xid: xid, wait: wait)
        } catch let error as TransactionError {
            throw error
        } catch {
            throw TransactionError(.internalError, "lock wait failed: \(error)", xid: xid, key: key)
        }
        let waited = UInt64(max(0, (ContinuousClock.now - start).nanoseconds))
        state.withLock { $0.statistics.waitNanos += waited }
        return waited
    }

    /// The slow path: decides (NOWAIT, deadlock, grant) and enqueues under one lock acquisition.
    private func waitInQueue(_ key: AccountID, xid: TransactionID, wait: LockWait) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        let timer = TimerBox()
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                enum Decision {
                    case granted
                    case queued(Duration)
                    case fail(TransactionError)
                }
                let decision = state.withLock { s -> Decision in
                    if s.holders[key] == nil, s.queues[key]?.isEmpty ?? true {
                        s.holders[key] = xid
                        s.held[xid, default: []].append(key)
                        s.statistics.immediateGrants += 1
                        return .granted
                    }
                    // Checked under the lock, not before it: a cancellation either is seen here
                    // or finds the waiter queued (`onCancel` takes the lock too), never neither.
                    if Task.isCancelled {
                        return .fail(
                            TransactionError(.queryCanceled, "lock wait on row \(key) cancelled", xid: xid, key: key))
                    }
                    guard case .timeout(let timeout) = wait else {
                        s.statistics.noWaitFailures += 1
                        return .fail(
                            TransactionError(
                                .lockNotAvailable, "could not obtain lock on row \(key) (NOWAIT)", xid: xid, key: key))
                    }
                    if let cycle = wouldDeadlock(xid, waitingFor: key, s) {
                        s.statistics.deadlocks += 1
                        return .fail(
                            TransactionError(
                                .deadlockDetected,
                                "deadlock detected: waiting for row \(key) closes the cycle "
                                    + cycle.map(String.init).joined(separator: " -> "),
                                xid: xid, key: key))
                    }
                    s.statistics.waits += 1
                    s.queues[key, default: []].append(Waiter(id: id, xid: xid, continuation: continuation))
                    s.waitingFor[xid] = key
                    return .queued(timeout)
                }
                switch decision {
                case .granted: continuation.resume()
                case .fail(let error): continuation.resume(throwing: error)
                case .queued(let timeout):
                    timer.set(
                        Task {
                            try await Task.sleep(for: timeout)
                            self.expire(
                                key, id: id,
                                error: TransactionError(
                                    .lockNotAvailable, "canceling statement due to lock timeout on row \(key)",
                                    xid: xid, key: key))
                        })
                }
            }
        } onCancel: {
            self.expire(
                key, id: id,
                error: TransactionError(.queryCanceled, "lock wait on row \(key) cancelled", xid: xid, key: key))
        }
    }

    /// Removes a still-queued waiter and fails it (timeout or cancellation).
    private func expire(_ key: AccountID, id: UInt64, error: TransactionError) {
        let waiter = state.withLock { s -> Waiter? in
            guard var queue = s.queues[key], let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = queue.remove(at: index)
            s.queues[key] = queue.isEmpty ? nil : queue
            s.waitingFor[waiter.xid] = nil
            if error.code == .lockNotAvailable { s.statistics.timeouts += 1 }
            return waiter
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Releases every lock `xid` holds, handing each row to the first transaction queued for it.
    public func releaseAll(_ xid: TransactionID) {
        let granted = state.withLock { s -> [Waiter] in
            guard let keys = s.held.removeValue(forKey: xid) else { return [] }
            var granted: [Waiter] = []
            for key in keys where s.holders[key] == xid {
                s.holders[key] = nil
                guard var queue = s.queues[key], let next = queue.popFirst() else { continue }
                s.queues[key] = queue.isEmpty ? nil : queue
                s.holders[key] = next.xid
                s.held[next.xid, default: []].append(key)
                s.waitingFor[next.xid] = nil
                granted.append(next)
            }
            return granted
        }
        for waiter in granted { waiter.continuation.resume() }
    }

    /// Registers locks a transaction already holds (a prepared transaction restored by recovery).
    public func adopt(_ keys: [AccountID], for xid: TransactionID) {
        state.withLock { s in
            for key in keys where s.holders[key] == nil {
                s.holders[key] = xid
                s.held[xid, default: []].append(key)
            }
        }
    }

    /// The transaction holding `key`, if any.
    public func holder(of key: AccountID) -> TransactionID? {
        state.withLock { $0.holders[key] }
    }

    /// Counters: grants, waits, wait time, timeouts, deadlocks.
    public var statistics: LockStatistics { state.withLock { $0.statistics } }

    /// The cycle `xid -> holder -> ... -> xid` that waiting for `key` would close, if any.
    private func wouldDeadlock(_ xid: TransactionID, waitingFor key: AccountID, _ s: State) -> [TransactionID]? {
        var path = [xid]
        var current = s.holders[key]
        // Bounded by the number of waiting transactions: each step follows one waiting edge.
        var steps = 0
        while let holder = current, steps <= s.waitingFor.count {
            path.append(holder)
            if holder == xid { return path }
            guard let next = s.waitingFor[holder] else { return nil }
            current = s.holders[next]
            steps += 1
        }
        return nil
    }
}

/// Holds the timeout task of one lock wait so it can be cancelled once the wait ends.
private final class TimerBox: Sendable {
    private let task = Mutex<Task<Void, any Error>?>(nil)

    func set(_ newTask: Task<Void, any Error>) {
        task.withLock { $0 = newTask }
    }

    func cancel() {
        task.withLock { $0?.cancel() }
    }
}

/// Counters of the lock manager.
public struct LockStatistics: Sendable, Hashable {
    /// Requests granted without waiting.
    public var immediateGrants: UInt64 = 0
    /// Requests that queued.
    public var waits: UInt64 = 0
    /// Nanoseconds spent waiting, summed over waiters that were granted.
    public var waitNanos: UInt64 = 0
    /// Waits that ended in 55P03 by `lock_timeout`.
    public var timeouts: UInt64 = 0
    /// NOWAIT requests refused.
    public var noWaitFailures: UInt64 = 0
    /// Requests refused with 40P01.
    public var deadlocks: UInt64 = 0
}

extension Duration {
    /// The duration in whole nanoseconds.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
