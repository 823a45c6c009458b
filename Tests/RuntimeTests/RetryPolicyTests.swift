import Runtime
import Storage
import Testing

/// A generator stuck at one value: all ones draws the top of any range. (Stuck at zero it
/// would spin forever in the unbiased range sampling's rejection loop.)
struct ConstantRandom: RandomNumberGenerator {
    let value: UInt64

    mutating func next() -> UInt64 { value }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    static let policy = RetryPolicy(
        maxAttempts: 10, baseBackoff: .milliseconds(1), maxBackoff: .milliseconds(100), maxTotal: .seconds(5))

    /// The cap of retry `retry`: 1, 2, 4, ... ms, then 100 ms from the eighth retry on.
    static func cap(_ retry: Int) -> Duration {
        min(.milliseconds(100), .milliseconds(1 << (retry - 1)))
    }

    @Test("the backoff cap doubles each retry up to maxBackoff", arguments: 1...12)
    func capDoubles(retry: Int) {
        var top = ConstantRandom(value: .max)
        #expect(Self.policy.backoff(beforeRetry: retry, using: &top) == Self.cap(retry))
    }

    @Test("backoff is full jitter: uniform within [0, cap]")
    func fullJitter() {
        let seed: UInt64 = 20_240_601
        var random = SplitMix64(seed: seed)
        for retry in 1...12 {
            let cap = Self.cap(retry)
            let samples = (0..<400).map { _ in Self.policy.backoff(beforeRetry: retry, using: &random) }
            #expect(samples.allSatisfy { $0 >= .zero && $0 <= cap }, "seed \(seed), retry \(retry)")
            // 400 uniform draws: the largest is above 95 % of the cap and the smallest below 5 %
            // with overwhelming probability (and exactly so for this seed).
            #expect(samples.max()! > cap * 0.95, "seed \(seed), retry \(retry)")
            #expect(samples.min()! < cap * 0.05, "seed \(seed), retry \(retry)")
        }
    }

    @Test("a zero base never sleeps, and the first retry's cap is the base")
    func edges() {
        var top = ConstantRandom(value: .max)
        #expect(RetryPolicy(baseBackoff: .zero).backoff(beforeRetry: 5, using: &top) == .zero)
        #expect(RetryPolicy(baseBackoff: .milliseconds(3)).backoff(beforeRetry: 1, using: &top) == .milliseconds(3))
        #expect(RetryPolicy(baseBackoff: .milliseconds(3)).backoff(beforeRetry: 0, using: &top) == .milliseconds(3))
    }

    /// A body at repeatable read whose write collides, on its first `conflicts` attempts, with
    /// a concurrent transaction that commits row 1 after the body's snapshot: a genuine 40001.
    func conflictingRun(
        _ manager: TransactionManager, conflicts: Int, policy: RetryPolicy
    ) async -> (Execution<Int>, Int) {
        var random = SplitMix64(seed: 42)
        var attempt = 0
        let execution = await manager.run(.repeatableRead, retry: policy, random: &random) { transaction in
            attempt += 1
            let seen = try #require(try await transaction.read(1)).balance
            if attempt <= conflicts {
                let other = try manager.begin(.readCommitted)
                try await other.write(1, Row(balance: seen + 1))
                try await manager.commit(other)
            }
            try await transaction.write(1, Row(balance: seen + 100))
            return attempt
        }
        return (execution, attempt)
    }

    @Test("run retries 40001 and reports the attempts and the retried errors")
    func retriesSerializationFailure() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 0])
            let policy = RetryPolicy(maxAttempts: 5, baseBackoff: .microseconds(10), maxTotal: .seconds(3600))
            let (execution, _) = await conflictingRun(manager, conflicts: 2, policy: policy)
            #expect(try execution.result.get() == 3)
            #expect(execution.attempts == 3)
            #expect(execution.retriedErrors == ["40001", "40001"])
            #expect(try await committedBalance(manager, 1) == 102, "two interfering +1, then the body's +100")
            let statistics = manager.statistics
            #expect(statistics.retries == 2)
            #expect(statistics.errorsBySQLState == ["40001": 2])
            #expect(statistics.retriesExhausted == 0)
            #expect(statistics.aborts == 2)
        }
    }

    @Test("run gives up after maxAttempts")
    func exhaustsAttempts() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 0])
            let policy = RetryPolicy(maxAttempts: 4, baseBackoff: .microseconds(10), maxTotal: .seconds(3600))
            let (execution, attempts) = await conflictingRun(manager, conflicts: .max, policy: policy)
            #expect(attempts == 4)
            #expect(execution.attempts == 4)
            #expect(execution.retriedErrors == ["40001", "40001", "40001"])
            #expect(errorCode(of: execution) == .serializationFailure)
            #expect(manager.statistics.retriesExhausted == 1)
            #expect(try await committedBalance(manager, 1) == 4, "only the interfering transactions committed")
        }
    }

    @Test("run starts no retry once maxTotal has passed")
    func maxTotal() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 0])
            let policy = RetryPolicy(maxAttempts: 10, maxTotal: .zero)
            let (execution, _) = await conflictingRun(manager, conflicts: .max, policy: policy)
            #expect(execution.attempts == 1)
            #expect(execution.retriedErrors.isEmpty)
            #expect(manager.statistics.retriesExhausted == 1)
        }
    }

    @Test("a business error ends the run at once, and its writes are rolled back")
    func businessErrorNotRetried() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 10, 2: 0])
            var random = SplitMix64(seed: 1)
            let execution = await manager.run(.serializable, random: &random) { transaction in
                try await transaction.write(2, Row(balance: 50))
                try await perform(Transfer(from: 1, to: 2, amount: 50, forUpdate: true), in: transaction)
            }
            #expect(execution.attempts == 1)
            #expect(execution.retriedErrors.isEmpty)
            guard case .failure(let error) = execution.result else {
                Issue.record("the transfer must be rejected")
                return
            }
            #expect(error as? InsufficientFunds == InsufficientFunds(account: 1, balance: 10, amount: 50))
            #expect(try await committedBalance(manager, 2) == 0)
            #expect(manager.statistics.retries == 0 && manager.statistics.aborts == 1)
        }
    }

    @Test("55P03 is not retried")
    func lockNotAvailableNotRetried() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 10])
            let holder = try manager.begin(.readCommitted)
            _ = try await holder.readForUpdate(1)
            var random = SplitMix64(seed: 2)
            let execution = await manager.run(.readCommitted, random: &random) { transaction in
                try await transaction.write(1, Row(balance: 0), wait: .noWait)
            }
            #expect(execution.attempts == 1)
            #expect(execution.retriedErrors.isEmpty)
            #expect(errorCode(of: execution) == .lockNotAvailable)
            try await manager.commit(holder)
            #expect(try await committedBalance(manager, 1) == 10)
        }
    }

    @Test("an imposed xid not above the highest seen fails with 40001 and the retry uses the next one")
    func imposedTransactionID() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 0])
            let stale = manager.storage.highestTransactionID
            let fresh = stale + 1_000
            var random = SplitMix64(seed: 4)
            let policy = RetryPolicy(maxAttempts: 3, baseBackoff: .zero, maxTotal: .seconds(3600))
            let execution = await manager.run(
                .serializable, retry: policy, random: &random,
                xid: { attempt in
                    attempt == 1 ? stale : fresh
                }
            ) { transaction in
                try await transaction.write(1, Row(balance: 7))
                return transaction.xid
            }
            #expect(try execution.result.get() == fresh)
            #expect(execution.xid == fresh, "L2's timestamp is L1's transaction id")
            #expect(execution.attempts == 2 && execution.retriedErrors == ["40001"])
            #expect(manager.storage.highestTransactionID == fresh)
        }
    }

    @Test("only 40001 and 40P01 are retried", arguments: TransactionError.Code.allCases)
    func retryableCodes(code: TransactionError.Code) async throws {
        try await withRuntime { manager in
            var random = SplitMix64(seed: 3)
            let policy = RetryPolicy(maxAttempts: 3, baseBackoff: .zero, maxTotal: .seconds(3600))
            let execution = await manager.run(.readCommitted, retry: policy, random: &random) { _ in
                throw TransactionError(code, "injected")
            }
            let retryable = code == .serializationFailure || code == .deadlockDetected
            #expect(code.isRetryable == retryable)
            #expect(execution.attempts == (retryable ? 3 : 1))
            #expect(execution.retriedErrors == Array(repeating: code.rawValue, count: retryable ? 2 : 0))
            #expect(errorCode(of: execution) == code)
            #expect(manager.statistics.errorsBySQLState == [code.rawValue: UInt64(execution.attempts)])
        }
    }
}
