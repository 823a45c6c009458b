import Runtime
import Storage
import Synchronization
import Testing

/// A timestamp oracle in this process: hands out increasing timestamps, each after a round trip
/// the test clock advances by, as an L2 client's TSO request costs.
private final class LocalOracle: Sendable {
    private let next: Mutex<TransactionID>
    let clock: ManualClock
    let roundTripNanos: UInt64
    private let requests = Atomic<Int>(0)

    init(first: TransactionID, clock: ManualClock, roundTripNanos: UInt64) {
        next = Mutex(first)
        self.clock = clock
        self.roundTripNanos = roundTripNanos
    }

    var requestCount: Int { requests.load(ordering: .relaxed) }

    func timestamp() async -> TransactionID {
        requests.add(1, ordering: .relaxed)
        await Task.yield()
        clock.advance(by: roundTripNanos)
        return next.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}

@Suite("Timestamp provider")
struct TimestampProviderTests {
    @Test("an async provider's timestamp is the transaction id, and its round trip is the L2 timestamp span")
    func asyncProviderImposesTheID() async throws {
        let clock = ManualClock(start: 1_000)
        try await withRuntime(clock: clock) { manager in
            try await seedRows(manager, [1: 0])
            let first = manager.storage.highestTransactionID + 1_000
            let oracle = LocalOracle(first: first, clock: clock, roundTripNanos: 250_000)
            var random = SplitMix64(seed: 11)
            for round in 0..<3 {
                let execution = await manager.run(
                    .serializable, random: &random, xid: { _ in await oracle.timestamp() }
                ) {
                    transaction in
                    try await transaction.write(1, Row(balance: Int64(round)))
                    return transaction.xid
                }
                #expect(try execution.result.get() == first + TransactionID(round), "the oracle's timestamp")
                #expect(execution.xid == first + TransactionID(round), "L2's timestamp is L1's transaction id")
                #expect(execution.trace.nanos(of: .l2) == 250_000, "the round trip is L2, once per attempt")
            }
            #expect(oracle.requestCount == 3)
            #expect(try await committedBalance(manager, 1) == 2)
        }
    }

    @Test("a provider's retryable error fails the attempt and the retry asks again")
    func providerErrorIsRetried() async throws {
        try await withRuntime { manager in
            try await seedRows(manager, [1: 0])
            let fresh = manager.storage.highestTransactionID + 500
            var random = SplitMix64(seed: 12)
            let asked = Atomic<Int>(0)
            let execution = await manager.run(
                .serializable, retry: RetryPolicy(maxAttempts: 3, baseBackoff: .zero, maxTotal: .seconds(3600)),
                random: &random,
                xid: { attempt throws(TransactionError) in
                    asked.add(1, ordering: .relaxed)
                    if attempt == 1 { throw TransactionError(.serializationFailure, "oracle unreachable") }
                    return fresh
                }
            ) { transaction in
                try await transaction.write(1, Row(balance: 5))
                return transaction.xid
            }
            #expect(try execution.result.get() == fresh)
            #expect(execution.attempts == 2 && execution.retriedErrors == ["40001"])
            #expect(asked.load(ordering: .relaxed) == 2)
        }
    }

    @Test("without a provider, L0 assigns increasing ids and no L2 time is spent")
    func localDefault() async throws {
        try await withRuntime { manager in
            try await seedRows(manager, [1: 0])
            var random = SplitMix64(seed: 13)
            var last: TransactionID = 0
            for round in 0..<3 {
                let execution = await manager.run(.serializable, random: &random) { transaction in
                    try await transaction.write(1, Row(balance: Int64(round)))
                }
                #expect(execution.xid > last)
                #expect(execution.trace.nanos(of: .l2) == 0)
                last = execution.xid
            }
        }
    }
}
