import Runtime
import Storage
import Testing

@Suite("Lock manager")
struct LockManagerTests {
    @Test("two transactions locking rows in opposite order: exactly one gets 40P01, the other commits")
    func deadlock() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            let barrier = Barrier(parties: 2)
            let orders: [(AccountID, AccountID)] = [(1, 2), (2, 1)]
            let executions = await withTaskGroup(of: (Int, Execution<Void>).self) { group in
                for (index, (first, second)) in orders.enumerated() {
                    group.addTask {
                        var random = SplitMix64(seed: UInt64(index))
                        let execution = await manager.run(.readCommitted, retry: .never, random: &random) {
                            t in
                            let firstRow = try #require(try await t.readForUpdate(first))
                            await barrier.arrive()  // both hold their first row before either asks for its second
                            let secondRow = try #require(try await t.readForUpdate(second))
                            try await t.write(first, Row(balance: firstRow.balance - 10))
                            try await t.write(second, Row(balance: secondRow.balance + 10))
                        }
                        return (index, execution)
                    }
                }
                return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let codes = (0..<2).map { errorCode(of: executions[$0]!) }
            #expect(codes.filter { $0 == .deadlockDetected }.count == 1, "\(codes)")
            #expect(codes.filter { $0 == nil }.count == 1, "\(codes)")
            #expect(manager.locks.statistics.deadlocks == 1)
            let winner = try #require(codes.firstIndex(of: nil))
            let (debited, credited) = orders[winner]
            #expect(try await committedBalance(manager, debited) == 90)
            #expect(try await committedBalance(manager, credited) == 110)
            #expect(manager.locks.holder(of: 1) == nil && manager.locks.holder(of: 2) == nil)
        }
    }

    @Test("a cycle of three: the request that closes it fails, the others are granted in turn")
    func deadlockOfThree() async throws {
        let locks = LockManager()
        let wait = LockWait.timeout(.seconds(30))
        for (xid, row) in [(1, 10), (2, 20), (3, 30)] as [(TransactionID, AccountID)] {
            locks.begin(xid)
            try await locks.acquire(row, for: xid, wait: wait)
        }
        let granted = EventLog<TransactionID>()
        let first = Task {
            try await locks.acquire(20, for: 1, wait: wait)
            granted.append(1)
        }
        await waitUntil("1 waits for 20") { locks.statistics.waits == 1 }
        let second = Task {
            try await locks.acquire(30, for: 2, wait: wait)
            granted.append(2)
        }
        await waitUntil("2 waits for 30") { locks.statistics.waits == 2 }
        let code = await errorCode { try await locks.acquire(10, for: 3, wait: wait) }
        #expect(code == .deadlockDetected)
        #expect(locks.statistics.deadlocks == 1)
        locks.end(3)
        try await second.value
        #expect(locks.holder(of: 30) == 2)
        locks.end(2)
        try await first.value
        #expect(granted.all == [2, 1])
        #expect(locks.holder(of: 20) == 1 && locks.holder(of: 10) == 1)
        locks.end(1)
        #expect([10, 20, 30].allSatisfy { locks.holder(of: $0) == nil })
    }

    @Test("a lock wait beyond lock_timeout fails with 55P03 and leaves the queue")
    func lockTimeout() async throws {
        let clock = ManualClock()
        try await withRuntime(options: patientOptions, clock: clock) { manager in
            let (holder, waiter) = try await holderAndWaiter(manager)
            let code = await errorCodeAfterTimeout(clock, .milliseconds(50)) {
                try await waiter.write(1, Row(balance: 0), wait: .timeout(.milliseconds(50)))
            }
            #expect(code == .lockNotAvailable)
            #expect(manager.locks.statistics.timeouts == 1)
            #expect(await errorCode { _ = try await waiter.read(1) } == .inFailedTransaction)
            manager.abort(waiter)
            try await manager.commit(holder)
            #expect(manager.locks.holder(of: 1) == nil, "the timed-out waiter must not be granted the row")
        }
    }

    @Test("a node that stops fails every lock wait at once with 57P01 and drops every lock")
    func shutdownFailsWaits() async throws {
        let clock = ManualClock()
        try await withRuntime(options: patientOptions, clock: clock) { manager in
            let (_, waiter) = try await holderAndWaiter(manager)
            // The wait's deadline is an hour away on a clock nobody advances: only shutdown ends it.
            let waiting = Task { () -> TransactionError.Code? in
                do {
                    try await waiter.write(1, Row(balance: 0), wait: .timeout(.seconds(3600)))
                    return nil
                } catch let error as TransactionError {
                    return error.code
                } catch {
                    return .internalError
                }
            }
            while manager.locks.statistics.waits == 0 { await Task.yield() }
            manager.locks.shutdown()
            #expect(await waiting.value == .adminShutdown)
            #expect(manager.locks.holder(of: 1) == nil, "the stopped node's locks are gone")
            #expect(manager.locks.statistics.timeouts == 0)
        }
    }

    @Test("the runtime's lock_timeout applies when no wait is given")
    func defaultLockTimeout() async throws {
        let clock = ManualClock()
        try await withRuntime(options: RuntimeOptions(lockTimeout: .milliseconds(50)), clock: clock) { manager in
            try await seedRows(manager, [1: 100])
            let holder = try manager.begin(.repeatableRead)
            try await holder.write(1, Row(balance: 1))
            let waiter = try manager.begin(.repeatableRead)
            let code = await errorCodeAfterTimeout(clock, .milliseconds(50)) { _ = try await waiter.readForUpdate(1) }
            #expect(code == .lockNotAvailable)
            manager.abort(waiter)
            manager.abort(holder)
            #expect(try await committedBalance(manager, 1) == 100)
        }
    }

    @Test("NOWAIT on a held row fails with 55P03 at once, without queueing")
    func noWait() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let holder = try manager.begin(.readCommitted)
            try await holder.write(1, Row(balance: 50))
            let other = try manager.begin(.readCommitted)
            #expect(await errorCode { _ = try await other.readForUpdate(1, wait: .noWait) } == .lockNotAvailable)
            let statistics = manager.locks.statistics
            #expect(statistics.noWaitFailures == 1)
            #expect(statistics.waits == 0)
            manager.abort(other)
            try await manager.commit(holder)
            #expect(try await committedBalance(manager, 1) == 50)
        }
    }

    @Test("three waiters on one row are granted in arrival order, with no barging")
    func fifo() async throws {
        let locks = LockManager()
        let wait = LockWait.timeout(.seconds(30))
        for xid in [TransactionID(100), 7, 3, 5, 999] { locks.begin(xid) }
        try await locks.acquire(1, for: 100, wait: wait)
        let granted = EventLog<TransactionID>()
        var waiters: [Task<Void, any Error>] = []
        for xid in [TransactionID(7), 3, 5] {
            waiters.append(
                Task {
                    try await locks.acquire(1, for: xid, wait: wait)
                    granted.append(xid)
                })
            await waitUntil("\(xid) queues") { locks.statistics.waits == waiters.count }
        }
        for holder in [TransactionID(100), 7, 3] {
            locks.end(holder)
            let next = locks.holder(of: 1)
            #expect(next != nil, "the row passes straight to the next waiter")
            // A newcomer finds the row held: it does not barge ahead of the queue.
            #expect(await errorCode { try await locks.acquire(1, for: 999, wait: .noWait) } == .lockNotAvailable)
            await waitUntil("\(next ?? 0) runs") { granted.all.last == next }
        }
        locks.end(5)
        for waiter in waiters { try await waiter.value }
        #expect(granted.all == [7, 3, 5])
        #expect(locks.holder(of: 1) == nil)
    }

    @Test("a cancelled lock wait fails with 57014 and is never granted")
    func cancelledWait() async throws {
        let locks = LockManager()
        locks.begin(1)
        locks.begin(2)
        try await locks.acquire(1, for: 1, wait: .noWait)
        let waiter = Task { await errorCode { try await locks.acquire(1, for: 2, wait: .timeout(.seconds(30))) } }
        await waitUntil("2 queues") { locks.statistics.waits == 1 }
        waiter.cancel()
        #expect(await waiter.value == .queryCanceled)
        locks.end(1)
        #expect(locks.holder(of: 1) == nil)
        #expect(locks.statistics.timeouts == 0)
    }

    @Test("a lock is re-entrant for its holder")
    func reentrant() async throws {
        let locks = LockManager()
        locks.begin(1)
        try await locks.acquire(1, for: 1, wait: .noWait)
        try await locks.acquire(1, for: 1, wait: .noWait)
        #expect(locks.statistics.immediateGrants == 1)
        locks.end(1)
        #expect(locks.holder(of: 1) == nil)
    }
}

/// Row 1 seeded and locked by `holder`; `waiter` begun, not yet waiting for it.
private func holderAndWaiter(_ manager: TransactionManager) async throws -> (Transaction, Transaction) {
    try await seedRows(manager, [1: 100])
    let holder = try manager.begin(.readCommitted)
    _ = try await holder.readForUpdate(1)
    return (holder, try manager.begin(.readCommitted))
}
