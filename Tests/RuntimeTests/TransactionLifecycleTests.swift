import Storage
import Testing

@testable import Runtime

/// A finished transaction (committed, aborted, prepared) takes no lock and runs no statement, and
/// every path that ends a transaction takes its queued lock waits with it.
@Suite("Transaction lifecycle")
struct TransactionLifecycleTests {
    /// 25000 (invalid transaction state): the handle is no longer active.
    static let notActive = "25000"

    @Test("a statement on a committed handle is 25000 and takes no lock")
    func committedHandle() async throws {
        try await withRuntime(options: TwoPhaseTests.shortLockTimeout) { manager in
            try await seedRows(manager, [1: 100, 2: 100, 3: 100])
            let transaction = try manager.begin(.readCommitted)
            try await transaction.write(1, Row(balance: 90))
            try await manager.commit(transaction)
            #expect(await errorCode { try await transaction.write(2, Row(balance: 0)) }?.rawValue == Self.notActive)
            #expect(await errorCode { _ = try await transaction.readForUpdate(3) }?.rawValue == Self.notActive)
            #expect(await errorCode { _ = try await transaction.read(3) }?.rawValue == Self.notActive)
            #expect(manager.locks.holder(of: 2) == nil, "no lock is granted to a committed transaction")
            #expect(manager.locks.holder(of: 3) == nil)
            let commits = manager.statistics.commits
            #expect(await errorCode { try await manager.commit(transaction) }?.rawValue == Self.notActive)
            #expect(manager.statistics.commits == commits && manager.statistics.aborts == 0)
            // Another transaction can take the rows at once.
            let next = try manager.begin(.readCommitted)
            try await next.write(2, Row(balance: 50), wait: .noWait)
            try await manager.commit(next)
            #expect(try await committedBalance(manager, 2) == 50)
        }
    }

    @Test("a statement on an aborted handle is 25000 and takes no lock")
    func abortedHandle() async throws {
        try await withRuntime(options: TwoPhaseTests.shortLockTimeout) { manager in
            try await seedRows(manager, [1: 100])
            let transaction = try manager.begin(.serializable)
            manager.abort(transaction)
            #expect(await errorCode { _ = try await transaction.readForUpdate(1) }?.rawValue == Self.notActive)
            #expect(manager.locks.holder(of: 1) == nil)
            #expect(await errorCode { try await manager.prepare(transaction) }?.rawValue == Self.notActive)
            #expect(manager.storage.preparedTransactions().isEmpty)
        }
    }

    @Test("a statement on a prepared handle is 25000 and takes no new lock")
    func preparedHandle() async throws {
        try await withRuntime(options: TwoPhaseTests.shortLockTimeout) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            let transaction = try manager.begin(.readCommitted)
            try await transaction.write(1, Row(balance: 90))
            try await manager.prepare(transaction)
            #expect(await errorCode { try await transaction.write(2, Row(balance: 0)) }?.rawValue == Self.notActive)
            #expect(manager.locks.holder(of: 2) == nil)
            #expect(manager.locks.holder(of: 1) == transaction.xid, "the prepared lock stays")
            try await manager.commitPrepared(transaction.xid)
            #expect(manager.locks.holder(of: 1) == nil)
        }
    }

    @Test("a transaction aborted while queued for a row is never granted it", arguments: IsolationLevel.allCases)
    func abortedWhileQueued(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let holder = try manager.begin(.readCommitted)
            try await holder.write(1, Row(balance: 90))
            let waiter = try manager.begin(level)
            let waiting = Task { await errorCode { try await waiter.write(1, Row(balance: 0)) } }
            await waitUntil("the waiter queues") { manager.locks.statistics.waits == 1 }
            manager.abort(waiter)  // from another task, while it is queued
            try await manager.commit(holder)
            let code = await waiting.value
            #expect(code?.rawValue == Self.notActive, "the queued wait ends with the transaction")
            #expect(manager.locks.holder(of: 1) == nil, "the aborted waiter must not be granted the row")
            #expect(try await committedBalance(manager, 1) == 90)
            let next = try manager.begin(.readCommitted)
            try await next.write(1, Row(balance: 80), wait: .noWait)
            try await manager.commit(next)
        }
    }

    @Test("two concurrent commits of one handle: exactly one commits, the other is refused with 25000")
    func concurrentCommits() async throws {
        try await withRuntime(durability: .fsync, options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let transaction = try manager.begin(.serializable)
            try await transaction.write(1, Row(balance: 90))
            let before = manager.statistics
            let codes = await withTaskGroup(of: TransactionError.Code?.self) { group in
                for _ in 0..<2 { group.addTask { await errorCode { try await manager.commit(transaction) } } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(codes.filter { $0 == nil }.count == 1, "\(codes)")
            #expect(codes.filter { $0 == .invalidTransactionState }.count == 1, "\(codes)")
            #expect(manager.statistics.commits == before.commits + 1 && manager.statistics.aborts == before.aborts)
            #expect(try await committedBalance(manager, 1) == 90)
        }
    }

    @Test("a transaction's phase only moves forward, along its allowed moves")
    func phaseMovesForward() {
        typealias Phase = Transaction.Phase
        let all: [Phase] = [.active, .preparing, .prepared, .committing, .committed, .aborted]
        let allowed: Set<[Phase]> = [
            [.active, .preparing], [.active, .committing], [.active, .aborted], [.preparing, .prepared],
            [.preparing, .aborted], [.committing, .committed], [.committing, .aborted],
        ]
        for from in all {
            for to in all {
                #expect(from.canMove(to: to) == allowed.contains([from, to]), "\(from) -> \(to)")
                if from.canMove(to: to) { #expect(from < to, "every move goes forward: \(from) -> \(to)") }
            }
        }
    }

    @Test("a transaction whose lock wait timed out and which is then aborted holds nothing")
    func timedOutThenAborted() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            let holder = try manager.begin(.readCommitted)
            try await holder.write(1, Row(balance: 90))
            let waiter = try manager.begin(.readCommitted)
            try await waiter.write(2, Row(balance: 110))
            #expect(await errorCode { try await waiter.write(1, Row(balance: 0), wait: .noWait) } == .lockNotAvailable)
            manager.abort(waiter)
            try await manager.commit(holder)
            #expect(manager.locks.holder(of: 1) == nil && manager.locks.holder(of: 2) == nil)
        }
    }
}
