import Runtime
import Storage
import Testing

@Suite("Batch commit")
struct BatchCommitterTests {
    static let members = 16
    /// The batch closes by size in these tests: a window far longer than submitting 16 members
    /// takes keeps a slow machine from splitting the batch (the window has its own test).
    static let fullOptions = BatchCommitter<Int>.Options(maxSize: 16, window: .seconds(30))

    /// Accounts `2i+1 -> 2i+2` for member `i`, each at 100.
    static let accounts = Dictionary(uniqueKeysWithValues: (1...(2 * members)).map { (AccountID($0), Int64(100)) })

    /// Submits transfers `0..<count` at once and expects each to commit with its own value.
    static func submitTransfers(_ committer: BatchCommitter<Int>, count: Int) async throws {
        let bodies: [BatchCommitter<Int>.Body] = (0..<count).map { member in
            { context in
                try await perform(Self.transfer(member), in: context)
                return member
            }
        }
        let outcomes = await Self.submitAll(committer, bodies)
        for (member, outcome) in outcomes.enumerated() {
            #expect(try outcome.result.get() == member)
        }
    }

    static func transfer(_ member: Int) -> Transfer {
        Transfer(from: AccountID(2 * member + 1), to: AccountID(2 * member + 2), amount: 10, forUpdate: true)
    }

    /// Submits `bodies` concurrently and returns their outcomes by index.
    static func submitAll(
        _ committer: BatchCommitter<Int>, _ bodies: [BatchCommitter<Int>.Body]
    ) async -> [BatchCommitter<Int>.Outcome] {
        let outcomes = await withTaskGroup(of: (Int, BatchCommitter<Int>.Outcome).self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask { (index, await committer.submit(body)) }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        return bodies.indices.map { outcomes[$0]! }
    }

    @Test(
        "sixteen transfers commit in one batch: one transaction, one xid, one fsync",
        arguments: IsolationLevel.allCases)
    func fullBatch(level: IsolationLevel) async throws {
        try await withRuntime(durability: .fsync, options: patientOptions) { manager in
            try await seedRows(manager, Self.accounts)
            let fsyncsBefore = manager.storage.statistics().wal.fsyncs
            let commitsBefore = manager.statistics.commits
            let committer = BatchCommitter<Int>(manager: manager, isolation: level, options: Self.fullOptions)
            let bodies: [BatchCommitter<Int>.Body] = (0..<Self.members).map { member in
                { context in
                    try await perform(Self.transfer(member), in: context)
                    return member
                }
            }
            let outcomes = await Self.submitAll(committer, bodies)

            #expect(manager.storage.statistics().wal.fsyncs - fsyncsBefore == 1)
            #expect(manager.statistics.commits - commitsBefore == 1)
            #expect(Set(outcomes.map(\.xid)).count == 1, "every member shares the batch's transaction id")
            for (member, outcome) in outcomes.enumerated() {
                #expect(try outcome.result.get() == member)
                #expect(!outcome.runAlone)
                #expect(outcome.batchSize == Self.members)
            }
            let statistics = committer.statistics
            #expect(statistics.batches == 1 && statistics.fullBatches == 1 && statistics.windowBatches == 0)
            #expect(statistics.members == 16 && statistics.ranAlone == 0 && statistics.failedBatches == 0)
            for member in 0..<Self.members {
                let transfer = Self.transfer(member)
                #expect(try await committedRow(manager, transfer.from)?.balance == 90)
                #expect(try await committedRow(manager, transfer.to)?.balance == 110)
                #expect(try await committedRow(manager, transfer.to)?.appliedTransfers == 1)
            }
        }
    }

    @Test("a member rejected by the business or by NOWAIT fails alone and writes nothing; the rest commit")
    func failingMembers() async throws {
        let rejected = 3
        let blocked = 7
        try await withRuntime(durability: .fsync, options: patientOptions) { manager in
            try await seedRows(manager, Self.accounts)
            let outsider = try manager.begin(.readCommitted)
            _ = try await outsider.readForUpdate(Self.transfer(blocked).to)
            let fsyncsBefore = manager.storage.statistics().wal.fsyncs
            let committer = BatchCommitter<Int>(manager: manager, isolation: .readCommitted, options: Self.fullOptions)
            let bodies: [BatchCommitter<Int>.Body] = (0..<Self.members).map { member in
                { context in
                    let transfer = Self.transfer(member)
                    switch member {
                    case rejected:
                        // Writes first, then rejects: the buffered writes must never land.
                        try await context.write(transfer.to, Row(balance: 1_000_000), wait: nil)
                        try await perform(
                            Transfer(from: transfer.from, to: transfer.to, amount: 500, forUpdate: true), in: context)
                    case blocked:
                        _ = try await context.readForUpdate(transfer.from, wait: .noWait)
                        _ = try await context.readForUpdate(transfer.to, wait: .noWait)
                        try await context.write(transfer.from, Row(balance: 0), wait: nil)
                    default:
                        try await perform(transfer, in: context)
                    }
                    return member
                }
            }
            let outcomes = await Self.submitAll(committer, bodies)
            #expect(manager.storage.statistics().wal.fsyncs - fsyncsBefore == 1)

            let committedXids = Set(
                outcomes.enumerated().filter { ![rejected, blocked].contains($0.offset) }.map(\.element.xid))
            #expect(committedXids.count == 1)
            for (member, outcome) in outcomes.enumerated() {
                let transfer = Self.transfer(member)
                switch member {
                case rejected:
                    guard case .failure(let error) = outcome.result else {
                        Issue.record("member \(member) must be rejected")
                        continue
                    }
                    #expect(error is InsufficientFunds)
                    #expect(!outcome.runAlone, "a business rejection is final")
                case blocked:
                    #expect(errorCode(of: outcome.result) == .lockNotAvailable)
                    #expect(outcome.runAlone)
                default:
                    #expect(try outcome.result.get() == member)
                    #expect(!outcome.runAlone)
                }
                let untouched = member == rejected || member == blocked
                #expect(
                    try await committedBalance(manager, transfer.from) == (untouched ? 100 : 90), "member \(member)")
                #expect(try await committedBalance(manager, transfer.to) == (untouched ? 100 : 110), "member \(member)")
            }
            #expect(committer.statistics.ranAlone == 1 && committer.statistics.failedBatches == 0)

            // The member sent to run alone succeeds on its own once the row is free.
            try await manager.commit(outsider)
            var random = SplitMix64(seed: 9)
            let alone = await manager.run(.readCommitted, random: &random) { transaction in
                try await perform(Self.transfer(blocked), in: transaction)
            }
            #expect(errorCode(of: alone) == nil)
            #expect(try await committedBalance(manager, Self.transfer(blocked).to) == 110)
        }
    }

    @Test("a batch that does not fill closes when its window ends")
    func windowCloses() async throws {
        let clock = ManualClock()
        try await withRuntime(options: patientOptions, clock: clock) { manager in
            try await seedRows(manager, Self.accounts)
            let committer = BatchCommitter<Int>(
                manager: manager, isolation: .readCommitted, options: .init(maxSize: 16, window: .milliseconds(50)))
            let members = Task { try await Self.submitTransfers(committer, count: 3) }
            // Each window ends only when the clock says so: advance it whenever one is armed.
            while committer.statistics.members < 3 {
                await waitUntil("a window is armed or every member ran") {
                    clock.sleeperCount > 0 || committer.statistics.members == 3
                }
                clock.advance(by: Duration.milliseconds(50).clampedNanoseconds)
            }
            try await members.value
            let statistics = committer.statistics
            #expect(statistics.fullBatches == 0 && statistics.windowBatches == statistics.batches)
            #expect(statistics.batches >= 1 && statistics.members == 3)
        }
    }

    @Test("closeWhenIdle: a lone member does not wait for the window, and every member commits")
    func closeWhenIdle() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, Self.accounts)
            // A 30 s window: were the batch to wait for it, the test would take 30 s per batch.
            let committer = BatchCommitter<Int>(
                manager: manager, isolation: .readCommitted,
                options: .init(maxSize: 16, window: .seconds(30), closeWhenIdle: true))
            let lone = await committer.submit { context in
                try await perform(Self.transfer(0), in: context)
                return 0
            }
            #expect(try lone.result.get() == 0)
            #expect(committer.statistics.idleBatches == 1 && committer.statistics.windowBatches == 0)
            try await Self.submitTransfers(committer, count: 8)
            let statistics = committer.statistics
            #expect(statistics.members == 9)
            #expect(statistics.windowBatches == 0, "no batch waited for the window")
            #expect(statistics.idleBatches + statistics.fullBatches == statistics.batches)
        }
    }

    @Test("a member's layers add up to its end-to-end time")
    func memberTrace() async throws {
        try await withRuntime(durability: .fsync, options: patientOptions) { manager in
            try await seedRows(manager, Self.accounts)
            let committer = BatchCommitter<Int>(manager: manager, isolation: .repeatableRead, options: Self.fullOptions)
            let bodies: [BatchCommitter<Int>.Body] = (0..<Self.members).map { member in
                { context in
                    try await perform(Self.transfer(member), in: context)
                    if member == 5 { throw InsufficientFunds(account: 0, balance: 0, amount: 1) }
                    return member
                }
            }
            for outcome in await Self.submitAll(committer, bodies) {
                let trace = outcome.trace
                #expect(trace.nanos(of: .l2) + trace.nanos(of: .l1) + trace.nanos(of: .l0) == outcome.endToEndNanos)
                #expect(trace[.walFlush] > 0)
            }
        }
    }
}
