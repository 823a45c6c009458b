import DequeModule
import Storage

/// The lock manager's decisions as a pure state machine (postgres-nio's `PoolStateMachine`
/// shape): every method runs under the manager's mutex, changes only this value, and returns
/// what the shell must do afterwards (resume a waiter, arm a timer); it never suspends, sleeps or
/// resumes anything itself, so tests drive it step by step.
///
/// `Waiter` is what the shell resumes: a continuation in `LockManager`, a plain value in tests.
///
/// Invariants (checked by `checkInvariants`, and cheaply at each step):
/// - a row's holder lists the row in `held`, and a row in `held[xid]` is held by `xid`;
/// - a row has a queue only while it is held (a free row is granted, never queued for);
/// - every queued transaction is active and waits for exactly one row, the one in `waitingFor`;
/// - only active transactions hold rows or are granted them.
struct LockTable<Waiter> {
    /// A queued request.
    struct Queued {
        let id: UInt64
        let xid: TransactionID
        let waiter: Waiter
    }

    /// How a request was decided.
    enum Decision {
        /// Granted at once (the row was free and nobody queued, or the requester holds it).
        case granted
        /// Queued behind the holder: wait for `end` of the holder, `expire`, or `end` of the requester.
        case queued
        /// Refused: fail the request with this error.
        case refused(TransactionError)
        /// Asked without a waiter: the request must queue (nothing changed).
        case mustWait
    }

    /// What ending a transaction asks the shell to do.
    struct Ended {
        /// Requests granted a row the ended transaction released (resume them normally).
        var granted: [Waiter] = []
        /// The ended transaction's own queued request and its row, if it had one (fail it with 25000).
        var abandoned: (key: AccountID, waiter: Waiter)?
    }

    private(set) var holders: [AccountID: TransactionID] = [:]
    private(set) var queues: [AccountID: Deque<Queued>] = [:]
    private(set) var held: [TransactionID: [AccountID]] = [:]
    /// The row each waiting transaction waits for.
    private(set) var waitingFor: [TransactionID: AccountID] = [:]
    /// Transactions that may hold and be granted locks: begun (or adopted) and not yet ended.
    private(set) var active: Set<TransactionID> = []
    private(set) var statistics = LockStatistics()

    /// Makes `xid` a transaction that may take locks.
    mutating func begin(_ xid: TransactionID) {
        active.insert(xid)
    }

    /// Decides a request for `key` by `xid`: grant, refuse (not active, NOWAIT, deadlock,
    /// cancelled) or queue `waiter` under `id`. Without a waiter (the shell's first, lock-free
    /// look), a request that would have to wait returns `mustWait` and changes nothing.
    mutating func request(
        _ key: AccountID, for xid: TransactionID, id: UInt64, waiter: Waiter?, canWait: Bool, cancelled: Bool
    ) -> Decision {
        guard active.contains(xid) else { return .refused(Self.notActive(xid, key: key)) }
        guard let holder = holders[key] else {
            precondition(queues[key] == nil, "row \(key) is free but has a queue")
            grant(key, to: xid)
            statistics.immediateGrants += 1
            return .granted
        }
        if holder == xid { return .granted }
        if cancelled {
            return .refused(TransactionError(.queryCanceled, "lock wait on row \(key) cancelled", xid: xid, key: key))
        }
        guard canWait else {
            statistics.noWaitFailures += 1
            return .refused(
                TransactionError(.lockNotAvailable, "could not obtain lock on row \(key) (NOWAIT)", xid: xid, key: key))
        }
        guard let waiter else { return .mustWait }
        if let cycle = wouldDeadlock(xid, waitingFor: key) {
            statistics.deadlocks += 1
            return .refused(
                TransactionError(
                    .deadlockDetected,
                    "deadlock detected: waiting for row \(key) closes the cycle "
                        + cycle.map(String.init).joined(separator: " -> "),
                    xid: xid, key: key))
        }
        precondition(waitingFor[xid] == nil, "transaction \(xid) already waits for a row (one task per transaction)")
        statistics.waits += 1
        queues[key, default: []].append(Queued(id: id, xid: xid, waiter: waiter))
        waitingFor[xid] = key
        return .queued
    }

    /// Takes request `id` off the queue of `key` if it is still there (a timeout or a
    /// cancellation that lost no race with a grant), returning the waiter to fail.
    mutating func expire(_ key: AccountID, id: UInt64, _ why: TimedWait.Expiry) -> Waiter? {
        guard var queue = queues[key], let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        let removed = queue.remove(at: index)
        queues[key] = queue.isEmpty ? nil : queue
        waitingFor[removed.xid] = nil
        if why == .timedOut { statistics.timeouts += 1 }
        return removed.waiter
    }

    /// Ends `xid` (commit, abort, commit or rollback of a prepared transaction): it leaves the
    /// active set, its own queued request is abandoned, and each row it held passes to the first
    /// active transaction queued for it.
    mutating func end(_ xid: TransactionID) -> Ended {
        var ended = Ended()
        active.remove(xid)
        if let key = waitingFor.removeValue(forKey: xid), var queue = queues[key],
            let index = queue.firstIndex(where: { $0.xid == xid })
        {
            ended.abandoned = (key, queue.remove(at: index).waiter)
            queues[key] = queue.isEmpty ? nil : queue
        }
        guard let keys = held.removeValue(forKey: xid) else { return ended }
        for key in keys {
            precondition(holders[key] == xid, "row \(key) listed as held by \(xid) but held by \(holders[key] ?? 0)")
            holders[key] = nil
            guard var queue = queues[key], let next = queue.popFirst() else { continue }
            queues[key] = queue.isEmpty ? nil : queue
            waitingFor[next.xid] = nil
            // A queued transaction is active: `end` removes a transaction's request as it ends it.
            precondition(active.contains(next.xid), "granting row \(key) to finished transaction \(next.xid)")
            grant(key, to: next.xid)
            ended.granted.append(next.waiter)
        }
        return ended
    }

    /// Registers rows a transaction already holds (a prepared transaction restored by recovery).
    mutating func adopt(_ keys: [AccountID], for xid: TransactionID) {
        active.insert(xid)
        for key in keys where holders[key] == nil { grant(key, to: xid) }
    }

    /// Adds a granted waiter's wait time.
    mutating func recordWait(nanos: UInt64) {
        statistics.waitNanos &+= nanos
    }

    /// Checks every invariant of the table (O(size): tests and debug builds).
    func checkInvariants() {
        for (key, holder) in holders {
            precondition(held[holder]?.contains(key) == true, "holder \(holder) of row \(key) does not list it")
            precondition(active.contains(holder), "row \(key) is held by finished transaction \(holder)")
        }
        for (xid, keys) in held {
            for key in keys { precondition(holders[key] == xid, "\(xid) lists row \(key) it does not hold") }
        }
        var queued = 0
        for (key, queue) in queues {
            precondition(!queue.isEmpty, "an empty queue is removed")
            precondition(holders[key] != nil, "row \(key) has a queue but no holder")
            for request in queue {
                precondition(waitingFor[request.xid] == key, "\(request.xid) is queued for \(key) but not waiting")
                precondition(active.contains(request.xid), "finished transaction \(request.xid) is queued")
            }
            queued += queue.count
        }
        precondition(queued == waitingFor.count, "every waiting transaction is queued exactly once")
    }

    private mutating func grant(_ key: AccountID, to xid: TransactionID) {
        holders[key] = xid
        held[xid, default: []].append(key)
    }

    static func notActive(_ xid: TransactionID, key: AccountID) -> TransactionError {
        TransactionError(
            .invalidTransactionState, "transaction \(xid) is not active (committed, aborted or prepared)",
            xid: xid, key: key)
    }

    /// The cycle `xid -> holder -> ... -> xid` that waiting for `key` would close, if any.
    private func wouldDeadlock(_ xid: TransactionID, waitingFor key: AccountID) -> [TransactionID]? {
        var path = [xid]
        var current = holders[key]
        // Bounded by the number of waiting transactions: each step follows one waiting edge.
        var steps = 0
        while let holder = current, steps <= waitingFor.count {
            path.append(holder)
            if holder == xid { return path }
            guard let next = waitingFor[holder] else { return nil }
            current = holders[next]
            steps += 1
        }
        return nil
    }
}
