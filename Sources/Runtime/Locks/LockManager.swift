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
///
/// Only transactions between `begin` and `end` hold or are granted locks: a request by a
/// finished transaction fails with 25000, and `end` (every path that finishes a transaction:
/// commit, abort, COMMIT/ROLLBACK PREPARED) fails its own queued request too, so no row is ever
/// granted to a transaction that can no longer release it. Decisions are made by the pure
/// `LockTable` under one mutex; waits, timeouts (on the injected clock) and cancellation go
/// through `TimedWait`.
public final class LockManager: Sendable {
    private typealias Table = LockTable<UnsafeContinuation<Void, any Error>>

    private struct State {
        var table = Table()
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The clock of lock timeouts and wait times.
    let clock: any EngineClock

    /// Creates an empty lock manager timing waits on `clock`.
    public init(clock: any EngineClock = SystemClock.shared) {
        self.clock = clock
    }

    /// Makes `xid` a transaction that may take locks (the transaction manager calls it at begin).
    public func begin(_ xid: TransactionID) {
        state.withLock { $0.table.begin(xid) }
    }

    /// Acquires the write lock on `key` for `xid`, waiting per `wait`. Returns the nanoseconds
    /// waited. Throws 25000 if `xid` is not active (never begun, already ended, or ended while
    /// it waits), 40P01 if waiting would deadlock, 55P03 on NOWAIT or timeout, and 57014 if the
    /// calling task is cancelled while waiting.
    @discardableResult
    public func acquire(_ key: AccountID, for xid: TransactionID, wait: LockWait) async throws(TransactionError)
        -> UInt64
    {
        let canWait = wait != .noWait
        let (first, id) = state.withLock { s -> (Table.Decision, UInt64) in
            let decision = s.table.request(key, for: xid, id: 0, waiter: nil, canWait: canWait, cancelled: false)
            guard case .mustWait = decision else { return (decision, 0) }
            s.nextWaiterID += 1
            return (decision, s.nextWaiterID)
        }
        switch first {
        case .granted: return 0
        case .refused(let error): throw error
        case .queued: preconditionFailure("a request without a waiter is never queued")
        case .mustWait: break
        }
        guard case .timeout(let timeout) = wait else { preconditionFailure("NOWAIT never waits") }
        let start = clock.nowNanos()
        do {
            try await TimedWait.suspend(
                clock: clock, deadline: start &+ timeout.clampedNanoseconds,
                decide: { continuation in
                    let decision = state.withLock { s in
                        s.table.request(
                            key, for: xid, id: id, waiter: continuation, canWait: true, cancelled: Task.isCancelled)
                    }
                    switch decision {
                    case .granted: return .resolved(.success(()))
                    case .refused(let error): return .resolved(.failure(error))
                    case .queued: return .queued
                    case .mustWait: preconditionFailure("a request with a waiter queues or is decided")
                    }
                },
                expire: { why in self.expire(key, id: id, xid: xid, why) })
        } catch let error as TransactionError {
            throw error
        } catch {
            throw TransactionError(.internalError, "lock wait failed: \(error)", xid: xid, key: key)
        }
        let waited = clock.nanosSince(start)
        state.withLock { $0.table.recordWait(nanos: waited) }
        return waited
    }

    /// Removes a still-queued waiter and fails it (timeout or cancellation).
    private func expire(_ key: AccountID, id: UInt64, xid: TransactionID, _ why: TimedWait.Expiry) {
        let waiter = state.withLock { $0.table.expire(key, id: id, why) }
        guard let waiter else { return }
        switch why {
        case .timedOut:
            waiter.resume(
                throwing: TransactionError(
                    .lockNotAvailable, "canceling statement due to lock timeout on row \(key)", xid: xid, key: key))
        case .cancelled:
            waiter.resume(
                throwing: TransactionError(.queryCanceled, "lock wait on row \(key) cancelled", xid: xid, key: key))
        }
    }

    /// Ends `xid`: releases every lock it holds, handing each row to the first transaction queued
    /// for it, and fails its own queued request (25000). It takes no lock afterwards.
    public func end(_ xid: TransactionID) {
        let ended = state.withLock { s in
            let ended = s.table.end(xid)
            // O(locks held): debug builds check that holders, held rows and queues agree.
            assert(
                {
                    s.table.checkInvariants()
                    return true
                }())
            return ended
        }
        if let (key, waiter) = ended.abandoned {
            waiter.resume(
                throwing: TransactionError(
                    .invalidTransactionState, "transaction \(xid) ended while waiting for the lock on row \(key)",
                    xid: xid, key: key))
        }
        for waiter in ended.granted { waiter.resume() }
    }

    /// The node stops (a crash, as its clients see it): every transaction's locks go and every lock
    /// wait fails at once (57P01) instead of waiting out its timeout on a node that is gone.
    public func shutdown() {
        let ended = state.withLock { s in
            // Waiters end first: ending a holder first would grant its rows to the next waiter
            // instead of failing it.
            let waiting = s.table.active.filter { s.table.waitingFor[$0] != nil }
            let holding = s.table.active.filter { s.table.waitingFor[$0] == nil }
            return (Array(waiting) + Array(holding)).map { xid in (xid, s.table.end(xid)) }
        }
        for (xid, result) in ended {
            if let (key, waiter) = result.abandoned {
                waiter.resume(
                    throwing: TransactionError(
                        .adminShutdown,
                        "terminating connection: the node stopped while transaction \(xid) waited "
                            + "for the lock on row \(key)", xid: xid, key: key))
            }
            for waiter in result.granted { waiter.resume() }
        }
    }

    /// Registers locks a transaction already holds (a prepared transaction restored by recovery).
    public func adopt(_ keys: [AccountID], for xid: TransactionID) {
        state.withLock { $0.table.adopt(keys, for: xid) }
    }

    /// The transaction holding `key`, if any.
    public func holder(of key: AccountID) -> TransactionID? {
        state.withLock { $0.table.holders[key] }
    }

    /// Counters: grants, waits, wait time, timeouts, deadlocks.
    public var statistics: LockStatistics { state.withLock { $0.table.statistics } }

    /// Checks that holders, held rows, queues and waits agree (O(locks); for tests).
    func checkInvariants() {
        state.withLock { $0.table.checkInvariants() }
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
