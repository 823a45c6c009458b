import PropertyBased
import Testing

@testable import Distributed

@Suite("Timestamp oracle")
struct TimestampOracleTests {
    @Test("a new oracle persists a bound a window ahead before serving, then serves without a write")
    func persistsBeforeServing() {
        var tso = TimestampOracle(persistedLimitMillis: 0, windowMillis: 3_000)
        #expect(tso.request(count: 1, nowMillis: 10_000) == .persistFirst(limitMillis: 13_000))
        tso.persisted(limitMillis: 13_000)
        #expect(
            tso.request(count: 3, nowMillis: 10_000)
                == .timestamps(first: HybridTimestamp(physicalMillis: 10_000, logical: 1), count: 3))
        #expect(
            tso.request(count: 1, nowMillis: 10_000)
                == .timestamps(first: HybridTimestamp(physicalMillis: 10_000, logical: 4), count: 1))
        #expect(
            tso.request(count: 1, nowMillis: 12_999)
                == .timestamps(first: HybridTimestamp(physicalMillis: 12_999, logical: 1), count: 1))
        // At the bound it must persist again.
        #expect(tso.request(count: 1, nowMillis: 13_000) == .persistFirst(limitMillis: 16_000))
    }

    @Test("the bound is raised in the background when a third of the window is left")
    func persistsAhead() {
        var tso = TimestampOracle(persistedLimitMillis: 0, windowMillis: 3_000)
        _ = tso.request(count: 1, nowMillis: 10_000)
        tso.persisted(limitMillis: 13_000)
        #expect(tso.persistAhead(nowMillis: 11_000) == nil)
        #expect(tso.persistAhead(nowMillis: 12_000) == 15_000)
        #expect(tso.persistAhead(nowMillis: 12_100) == nil, "one write at a time")
        tso.persisted(limitMillis: 15_000)
        #expect(tso.pendingLimitMillis == nil)
        #expect(tso.limitMillis == 15_000)
    }

    @Test("a restarted oracle starts above its old bound even when the clock went back")
    func restartAboveBound() {
        var tso = TimestampOracle(persistedLimitMillis: 0)
        _ = tso.request(count: 1, nowMillis: 10_000)
        tso.persisted(limitMillis: 13_000)
        guard case .timestamps(let last, _) = tso.request(count: 1, nowMillis: 12_000) else {
            Issue.record("no timestamps")
            return
        }
        var restarted = TimestampOracle(persistedLimitMillis: 13_000)
        #expect(restarted.request(count: 1, nowMillis: 5_000) == .persistFirst(limitMillis: 16_000))
        restarted.persisted(limitMillis: 16_000)
        guard case .timestamps(let first, _) = restarted.request(count: 1, nowMillis: 5_000) else {
            Issue.record("no timestamps")
            return
        }
        #expect(first > last)
        #expect(first == HybridTimestamp(physicalMillis: 13_000, logical: 1))
    }

    @Test("a millisecond whose logical counter is used up borrows the next millisecond")
    func logicalOverflow() {
        var tso = TimestampOracle(persistedLimitMillis: 0, maxBatch: 200_000)
        _ = tso.request(count: 1, nowMillis: 10_000)
        tso.persisted(limitMillis: 13_000)
        _ = tso.request(count: 200_000, nowMillis: 10_000)
        #expect(
            tso.request(count: 100_000, nowMillis: 10_000)
                == .timestamps(first: HybridTimestamp(physicalMillis: 10_001, logical: 1), count: 100_000))
    }

    @Test("the batcher sends one request for everyone waiting, and serves waiters in arrival order")
    func batching() {
        var batcher = TimestampBatcher<Int>(maxBatch: 3)
        guard case .send(1) = batcher.enqueue(1) else {
            Issue.record("the first request goes out at once")
            return
        }
        for waiter in 2...5 {
            guard case .wait = batcher.enqueue(waiter) else {
                Issue.record("later requests wait for the one in flight")
                return
            }
        }
        let first = batcher.received(first: HybridTimestamp(physicalMillis: 1, logical: 1), count: 1)
        #expect(first.served.map(\.0) == [1])
        guard case .send(3) = first.next else {
            Issue.record("one request for the waiters, bounded by maxBatch")
            return
        }
        let second = batcher.received(first: HybridTimestamp(physicalMillis: 1, logical: 2), count: 3)
        #expect(second.served.map(\.0) == [2, 3, 4])
        #expect(second.served.map(\.1.logical) == [2, 3, 4])
        guard case .send(1) = second.next else {
            Issue.record("the last waiter gets its own request")
            return
        }
        let third = batcher.received(first: HybridTimestamp(physicalMillis: 1, logical: 5), count: 1)
        #expect(third.served.map(\.0) == [5])
        #expect(third.next == nil)
        #expect(!batcher.isInFlight)
    }

    @Test("the batcher sheds requests beyond its bound")
    func batcherBound() {
        var batcher = TimestampBatcher<Int>(maxBatch: 10, maxWaiting: 2)
        #expect(batcher.enqueue(1) != nil)
        #expect(batcher.enqueue(2) != nil)
        #expect(batcher.enqueue(3) == nil)
    }

    @Test("property: batched requests from one node get unique timestamps, increasing in arrival order")
    func batchedRequestsProperty() async {
        await propertyCheck(input: Gen.int(in: 0...2).array(of: 1...400), Gen.int(in: 1...64)) { events, maxBatch in
            var oracle = TimestampOracle(persistedLimitMillis: 0, maxBatch: maxBatch)
            var batcher = TimestampBatcher<Int>(maxBatch: maxBatch)
            var now: UInt64 = 1_000_000
            var nextWaiter = 0
            var inFlight: Int?
            var served: [(Int, HybridTimestamp)] = []
            func answer(_ count: Int) -> (HybridTimestamp, Int) {
                var grant = oracle.request(count: count, nowMillis: now)
                if case .persistFirst(let limit) = grant {
                    oracle.persisted(limitMillis: limit)
                    grant = oracle.request(count: count, nowMillis: now)
                }
                guard case .timestamps(let first, let granted) = grant else { return (.zero, 0) }
                return (first, granted)
            }
            for event in events {
                switch event {
                case 0:
                    if case .send(let count) = batcher.enqueue(nextWaiter) { inFlight = count }
                    nextWaiter += 1
                case 1:
                    // The oracle answers the round trip in flight.
                    if let count = inFlight {
                        let (first, granted) = answer(count)
                        #expect(granted == count)
                        let result = batcher.received(first: first, count: granted)
                        served.append(contentsOf: result.served)
                        if case .send(let next) = result.next { inFlight = next } else { inFlight = nil }
                    }
                default:
                    now += 1
                }
            }
            while let count = inFlight {
                let (first, granted) = answer(count)
                let result = batcher.received(first: first, count: granted)
                served.append(contentsOf: result.served)
                if case .send(let next) = result.next { inFlight = next } else { inFlight = nil }
            }
            // Every waiter served once, in arrival order, with strictly increasing timestamps.
            #expect(served.map(\.0) == Array(0..<nextWaiter))
            #expect(zip(served, served.dropFirst()).allSatisfy { $0.1 < $1.1 })
        }
    }

    /// What happens to the oracle next: a batch request, time passing, the wall clock stepping back, a
    /// background persist, or a crash (losing any write not yet durable) and restart.
    @Test("property: timestamps strictly increase across requests, clock steps, crashes and restarts")
    func strictlyIncreasingProperty() async {
        await propertyCheck(
            input: Gen.int(in: 0...5).array(of: 1...300), Gen.int(in: 1...5_000).array(of: 300)
        ) { kinds, values in
            var now: UInt64 = 1_700_000_000_000
            var durable: UInt64 = 0
            var tso = TimestampOracle(persistedLimitMillis: durable, windowMillis: 3_000, maxBatch: 5_000)
            var last = HybridTimestamp.zero
            for (kind, value) in zip(kinds, values) {
                switch kind {
                case 0, 1:
                    var grant = tso.request(count: value, nowMillis: now)
                    if case .persistFirst(let limit) = grant {
                        durable = max(durable, limit)
                        tso.persisted(limitMillis: limit)
                        grant = tso.request(count: value, nowMillis: now)
                    }
                    guard case .timestamps(let first, let count) = grant else {
                        Issue.record("a request after persisting is served")
                        return
                    }
                    #expect(count == value)
                    #expect(first > last)
                    // Everything served is below the durable bound.
                    #expect(first.physicalMillis < durable)
                    last = HybridTimestamp(rawValue: first.rawValue + UInt64(count - 1))
                case 2:
                    now += UInt64(value)
                case 3:
                    now -= UInt64(value)
                case 4:
                    if let limit = tso.persistAhead(nowMillis: now) {
                        // Half the background writes complete before the next event.
                        if value % 2 == 0 {
                            durable = max(durable, limit)
                            tso.persisted(limitMillis: limit)
                        }
                    }
                default:
                    tso = TimestampOracle(persistedLimitMillis: durable, windowMillis: 3_000, maxBatch: 5_000)
                }
            }
        }
    }
}
