import Runtime
import Storage
import Testing

/// The anomaly table of `IsolationLevel`, row by row: two transactions interleaved by hand.
@Suite("Isolation levels")
struct IsolationTests {
    @Test("a dirty read is prevented", arguments: IsolationLevel.allCases)
    func dirtyRead(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let writer = try manager.begin(level)
            try await writer.write(1, Row(balance: 999))
            let reader = try manager.begin(level)
            #expect(try await reader.read(1)?.balance == 100, "the uncommitted 999 must not be seen")
            try await manager.commit(reader)
            manager.abort(writer)
            #expect(try await committedBalance(manager, 1) == 100)
        }
    }

    @Test("a non-repeatable read is allowed at read committed only", arguments: IsolationLevel.allCases)
    func nonRepeatableRead(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let reader = try manager.begin(level)
            #expect(try await reader.read(1)?.balance == 100)
            let writer = try manager.begin(level)
            try await writer.write(1, Row(balance: 50))
            try await manager.commit(writer)
            let again = try await reader.read(1)?.balance
            #expect(again == (level == .readCommitted ? 50 : 100))
            try await manager.commit(reader)
        }
    }

    @Test(
        "a lost update (read, then write) is allowed at read committed, 40001 above",
        arguments: IsolationLevel.allCases)
    func lostUpdate(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let first = try manager.begin(level)
            let second = try manager.begin(level)
            let seenByFirst = try #require(try await first.read(1)).balance
            let seenBySecond = try #require(try await second.read(1)).balance
            try await first.write(1, Row(balance: seenByFirst + 10))
            try await manager.commit(first)
            let code = await errorCode {
                try await second.write(1, Row(balance: seenBySecond + 20))
                try await manager.commit(second)
            }
            if level == .readCommitted {
                #expect(code == nil)
                #expect(try await committedBalance(manager, 1) == 120, "the first update (+10) is lost")
            } else {
                #expect(code == .serializationFailure)
                manager.abort(second)
                #expect(try await committedBalance(manager, 1) == 110)
            }
        }
    }

    @Test(
        "a writer that waited for the row overwrites at read committed and gets 40001 above",
        arguments: IsolationLevel.allCases)
    func lostUpdateAfterLockWait(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let first = try manager.begin(level)
            let second = try manager.begin(level)
            let seenBySecond = try #require(try await second.read(1)).balance
            try await first.write(1, Row(balance: 110))
            let waiter = Task {
                await errorCode {
                    try await second.write(1, Row(balance: seenBySecond + 20))
                    try await manager.commit(second)
                }
            }
            await waitUntil("the second writer queues for row 1") { manager.locks.statistics.waits == 1 }
            try await manager.commit(first)
            let code = await waiter.value
            if level == .readCommitted {
                #expect(code == nil)
                #expect(try await committedBalance(manager, 1) == 120)
            } else {
                #expect(code == .serializationFailure)
                manager.abort(second)
                #expect(try await committedBalance(manager, 1) == 110)
            }
        }
    }

    @Test(
        "readForUpdate prevents the lost update: it waits, then reads the newest version (RC) or gets 40001",
        arguments: IsolationLevel.allCases)
    func readForUpdatePreventsLostUpdate(level: IsolationLevel) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let first = try manager.begin(level)
            let second = try manager.begin(level)
            let seenByFirst = try #require(try await first.readForUpdate(1)).balance
            let waiter = Task { () -> (TransactionError.Code?, Int64?) in
                var seen: Int64?
                let code = await errorCode {
                    let row = try await second.readForUpdate(1)
                    seen = row?.balance
                    try await second.write(1, Row(balance: (row?.balance ?? 0) + 20))
                    try await manager.commit(second)
                }
                return (code, seen)
            }
            await waitUntil("the second transaction queues for row 1") { manager.locks.statistics.waits == 1 }
            try await first.write(1, Row(balance: seenByFirst + 10))
            try await manager.commit(first)
            let (code, seen) = await waiter.value
            if level == .readCommitted {
                #expect(code == nil)
                #expect(seen == 110, "read committed reads the version committed while it waited")
                #expect(try await committedBalance(manager, 1) == 130, "both updates applied")
            } else {
                #expect(code == .serializationFailure)
                manager.abort(second)
                #expect(try await committedBalance(manager, 1) == 110)
            }
        }
    }

    /// Two doctors on call (rows 1 and 2, balance 1 = on call). Each checks that both are on call
    /// and goes off call itself: under snapshot isolation both succeed and nobody is on call.
    @Test(
        "write skew is allowed at read committed and repeatable read, prevented at serializable",
        arguments: IsolationLevel.allCases, [false, true])
    func writeSkew(level: IsolationLevel, firstCommitsBeforeSecondWrites: Bool) async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 1, 2: 1])
            let alice = try manager.begin(level)
            let bob = try manager.begin(level)
            for transaction in [alice, bob] {
                let onCall = try await (transaction.read(1)?.balance ?? 0) + (transaction.read(2)?.balance ?? 0)
                #expect(onCall == 2)
            }
            var codes: [TransactionError.Code?] = []
            if firstCommitsBeforeSecondWrites {
                codes.append(await goOffCall(alice, row: 1, manager))
                codes.append(await goOffCall(bob, row: 2, manager))
            } else {
                let aliceWrite = await errorCode { try await alice.write(1, Row(balance: 0)) }
                let bobWrite = await errorCode { try await bob.write(2, Row(balance: 0)) }
                codes.append(await finish(alice, aliceWrite, manager))
                codes.append(await finish(bob, bobWrite, manager))
            }
            let onCall = try await (committedBalance(manager, 1) ?? 0) + (committedBalance(manager, 2) ?? 0)
            if level == .serializable {
                #expect(codes.contains(.serializationFailure), "\(codes)")
                #expect(codes.allSatisfy { $0 == nil || $0 == .serializationFailure }, "\(codes)")
                #expect(onCall >= 1)
            } else {
                #expect(codes == [nil, nil])
                #expect(onCall == 0, "write skew: nobody is on call")
            }
        }
    }

    /// The write-skew rule under real concurrency: doctors go off call concurrently through
    /// `run` with retries; at serializable at least one always stays on call.
    @Test("concurrent doctors going off call never leave nobody on call at serializable")
    func writeSkewUnderConcurrency() async throws {
        let doctors: [AccountID] = [1, 2, 3, 4]
        let retry = RetryPolicy(
            maxAttempts: 100, baseBackoff: .microseconds(20), maxBackoff: .milliseconds(1), maxTotal: .seconds(30))
        try await withRuntime(options: patientOptions) { manager in
            for round in 0..<20 {
                let seedValue = UInt64(round) &* 7919
                try await seedRows(manager, Dictionary(uniqueKeysWithValues: doctors.map { ($0, Int64(1)) }))
                let offCall = await withTaskGroup(of: Bool.self) { group in
                    for doctor in doctors {
                        group.addTask {
                            var random = SplitMix64(seed: seedValue ^ doctor)
                            let execution = await manager.run(.serializable, retry: retry, random: &random) { t in
                                var onCall: Int64 = 0
                                for other in doctors { onCall += try await t.read(other)?.balance ?? 0 }
                                guard onCall >= 2 else { return false }
                                try await t.write(doctor, Row(balance: 0))
                                return true
                            }
                            return (try? execution.result.get()) ?? false
                        }
                    }
                    return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                var onCall: Int64 = 0
                for doctor in doctors { onCall += try await committedBalance(manager, doctor) ?? 0 }
                #expect(onCall >= 1, "round \(round): nobody on call")
                #expect(Int(onCall) == doctors.count - offCall, "round \(round)")
            }
        }
    }

    private func goOffCall(_ transaction: Transaction, row: AccountID, _ manager: TransactionManager) async
        -> TransactionError.Code?
    {
        let code = await errorCode {
            try await transaction.write(row, Row(balance: 0))
            try await manager.commit(transaction)
        }
        if code != nil { manager.abort(transaction) }
        return code
    }

    private func finish(
        _ transaction: Transaction, _ writeError: TransactionError.Code?, _ manager: TransactionManager
    ) async -> TransactionError.Code? {
        if let writeError {
            manager.abort(transaction)
            return writeError
        }
        return await errorCode { try await manager.commit(transaction) }
    }
}
