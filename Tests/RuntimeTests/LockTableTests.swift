import Storage
import Testing

@testable import Runtime

/// The lock manager's pure state machine, driven step by step: waiters are plain numbers, and
/// every step is checked against the table's invariants.
@Suite("Lock table")
struct LockTableTests {
    typealias Table = LockTable<Int>

    /// Requests `key` for `xid` with waiter token `id` (waiting allowed), checking invariants.
    @discardableResult
    static func request(
        _ table: inout Table, _ key: AccountID, _ xid: TransactionID, id: UInt64, canWait: Bool = true,
        cancelled: Bool = false
    ) -> Table.Decision {
        let decision = table.request(key, for: xid, id: id, waiter: Int(id), canWait: canWait, cancelled: cancelled)
        table.checkInvariants()
        return decision
    }

    static func code(_ decision: Table.Decision) -> TransactionError.Code? {
        if case .refused(let error) = decision { return error.code }
        return nil
    }

    static func isGranted(_ decision: Table.Decision) -> Bool {
        if case .granted = decision { return true }
        return false
    }

    static func isQueued(_ decision: Table.Decision) -> Bool {
        if case .queued = decision { return true }
        return false
    }

    @Test("a free row is granted; a held one queues waiters in order and passes to them one by one")
    func fifoHandOff() {
        var table = Table()
        for xid in [TransactionID(1), 2, 3] { table.begin(xid) }
        #expect(Self.isGranted(Self.request(&table, 10, 1, id: 1)))
        #expect(Self.isGranted(Self.request(&table, 10, 1, id: 2)), "re-entrant")
        #expect(Self.isQueued(Self.request(&table, 10, 2, id: 3)))
        #expect(Self.isQueued(Self.request(&table, 10, 3, id: 4)))
        #expect(table.statistics.immediateGrants == 1 && table.statistics.waits == 2)
        let first = table.end(1)
        table.checkInvariants()
        #expect(first.granted == [3] && first.abandoned == nil)
        #expect(table.holders[10] == 2)
        let second = table.end(2)
        #expect(second.granted == [4] && table.holders[10] == 3)
        #expect(table.end(3).granted.isEmpty)
        #expect(table.holders.isEmpty && table.queues.isEmpty && table.held.isEmpty && table.active.isEmpty)
    }

    @Test("ending a queued transaction abandons its request: it is never granted the row")
    func endWhileQueued() {
        var table = Table()
        for xid in [TransactionID(1), 2, 3] { table.begin(xid) }
        Self.request(&table, 10, 1, id: 1)
        #expect(Self.isQueued(Self.request(&table, 10, 2, id: 2)))
        #expect(Self.isQueued(Self.request(&table, 10, 3, id: 3)))
        let ended = table.end(2)
        table.checkInvariants()
        #expect(ended.abandoned?.key == 10 && ended.abandoned?.waiter == 2 && ended.granted.isEmpty)
        #expect(table.end(1).granted == [3], "the row skips the ended transaction")
        #expect(table.holders[10] == 3)
        #expect(Self.code(Self.request(&table, 11, 2, id: 4)) == .invalidTransactionState, "no lock after the end")
        #expect(table.holders[11] == nil)
    }

    @Test("a transaction never begun, or already ended, is refused with 25000 and takes nothing")
    func notActive() {
        var table = Table()
        #expect(Self.code(Self.request(&table, 1, 5, id: 1)) == .invalidTransactionState)
        table.begin(5)
        #expect(Self.isGranted(Self.request(&table, 1, 5, id: 2)))
        _ = table.end(5)
        #expect(Self.code(Self.request(&table, 1, 5, id: 3)) == .invalidTransactionState)
        #expect(table.holders.isEmpty)
    }

    @Test("NOWAIT, a cancelled request and a deadlock are refused without queueing")
    func refusals() {
        var table = Table()
        for xid in [TransactionID(1), 2] { table.begin(xid) }
        Self.request(&table, 10, 1, id: 1)
        Self.request(&table, 20, 2, id: 2)
        #expect(Self.code(Self.request(&table, 10, 2, id: 3, canWait: false)) == .lockNotAvailable)
        #expect(Self.code(Self.request(&table, 10, 2, id: 4, cancelled: true)) == .queryCanceled)
        #expect(Self.isQueued(Self.request(&table, 20, 1, id: 5)))
        #expect(Self.code(Self.request(&table, 10, 2, id: 6)) == .deadlockDetected)
        #expect(table.statistics.noWaitFailures == 1 && table.statistics.deadlocks == 1)
        #expect(table.queues[10] == nil && table.waitingFor[2] == nil)
    }

    @Test("without a waiter, a request that must wait changes nothing")
    func mustWait() {
        var table = Table()
        for xid in [TransactionID(1), 2] { table.begin(xid) }
        Self.request(&table, 10, 1, id: 1)
        let before = table.statistics
        let decision = table.request(10, for: 2, id: 2, waiter: nil, canWait: true, cancelled: false)
        guard case .mustWait = decision else {
            Issue.record("expected mustWait, got \(decision)")
            return
        }
        #expect(table.statistics == before && table.queues.isEmpty)
    }

    @Test("an expiry takes a queued request back once; after a grant it finds nothing")
    func expiry() {
        var table = Table()
        for xid in [TransactionID(1), 2, 3] { table.begin(xid) }
        Self.request(&table, 10, 1, id: 1)
        Self.request(&table, 10, 2, id: 2)
        Self.request(&table, 10, 3, id: 3)
        #expect(table.expire(10, id: 2, .timedOut) == 2)
        #expect(table.expire(10, id: 2, .timedOut) == nil)
        table.checkInvariants()
        #expect(table.statistics.timeouts == 1)
        #expect(table.end(1).granted == [3])
        #expect(table.expire(10, id: 3, .cancelled) == nil, "granted: the grant stands")
        #expect(table.statistics.timeouts == 1)
        table.checkInvariants()
    }

    /// Random interleavings of begin, request, expire and end over few rows: after every step the
    /// invariants hold, and no row is ever held by, or granted to, a transaction that ended.
    @Test(
        "random interleavings keep holders, queues and the active set consistent", arguments: [1, 2, 3, 4] as [UInt64])
    func randomInterleavings(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var table = Table()
        var ended: Set<TransactionID> = []
        var nextXid: TransactionID = 1
        var nextID: UInt64 = 1
        var queued: [UInt64: (key: AccountID, xid: TransactionID)] = [:]
        var granted: [Int] = []
        for _ in 0..<5_000 {
            switch random.next() % 4 {
            case 0:
                table.begin(nextXid)
                nextXid += 1
            case 1:
                let xid = TransactionID(random.next() % nextXid) + 1
                let key = AccountID(random.next() % 4)
                let id = nextID
                nextID += 1
                // One request at a time per transaction, as one task drives a transaction.
                guard table.waitingFor[xid] == nil else { continue }
                if case .queued = Self.request(&table, key, xid, id: id, canWait: random.next() % 5 != 0) {
                    queued[id] = (key, xid)
                }
            case 2:
                guard let (id, entry) = queued.randomElement(using: &random) else { continue }
                if table.expire(entry.key, id: id, random.next() % 2 == 0 ? .timedOut : .cancelled) != nil {
                    queued[id] = nil
                }
            default:
                let xid = TransactionID(random.next() % nextXid) + 1
                let result = table.end(xid)
                ended.insert(xid)
                granted += result.granted
                if let (_, waiter) = result.abandoned { queued[UInt64(waiter)] = nil }
                for waiter in result.granted { queued[UInt64(waiter)] = nil }
            }
            table.checkInvariants()
            #expect(
                table.holders.values.allSatisfy { !ended.contains($0) || table.active.contains($0) },
                "seed \(seed): a row is held by an ended transaction")
        }
        let stillQueued = table.queues.values.reduce(0) { $0 + $1.count }
        #expect(stillQueued == queued.count, "seed \(seed): the shell's view of queued requests matches the table")
    }
}
