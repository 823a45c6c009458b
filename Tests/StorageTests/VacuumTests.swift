import PropertyBased
import Testing

@testable import Storage

/// Random transactions over a few rows, with open snapshots held by running transactions, and
/// vacuums at random moments: what every open snapshot reads must never change.
private final class VacuumScenario {
    static let keys: ClosedRange<AccountID> = 1...4

    struct OpenTransaction {
        let xid: TransactionID
        /// Its snapshots, each with the committed balances when it was taken.
        var snapshots: [(snapshot: Snapshot, model: [AccountID: Int64])]
        var writes: [AccountID: Int64] = [:]
    }

    let seed: Int
    /// Whether vacuum freezes (and truncates the commit log), as background vacuum does.
    let freeze: Bool
    let directory: String
    let options: StorageOptions
    var rng: SeededGenerator
    var engine: StorageEngine
    var model: [AccountID: Int64] = [:]
    /// The transaction that wrote each row's committed value (the cross-layer identity).
    var writer: [AccountID: TransactionID] = [:]
    var open: [OpenTransaction] = []
    var committed: Set<TransactionID> = []
    var aborted: Set<TransactionID> = []
    var vacuums = 0
    var versionsRemoved = 0

    init(seed: Int, directory: String, freeze: Bool = false) throws {
        self.seed = seed
        self.freeze = freeze
        self.directory = directory
        rng = SeededGenerator(seed: UInt64(seed))
        options = StorageOptions(durability: .none, checkpointWALBytes: 0, pruneChainLength: rng.chance(50) ? 2 : 1_000)
        engine = try StorageEngine(directory: directory, options: options)
    }

    var comment: Comment {
        "seed \(seed), freeze \(freeze), pruneChainLength \(options.pruneChainLength), vacuum \(vacuums)"
    }

    func run() async throws {
        let first = try await engine.commitWrites([1: 10, 2: 20, 3: 30])
        committed.insert(first)
        model = [1: 10, 2: 20, 3: 30]
        writer = [1: first, 2: first, 3: first]
        for _ in 0..<Int.random(in: 30...80, using: &rng) {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<20 where open.count < 5: try begin()
            case 0..<30: try takeSnapshot()
            case 30..<55: try write()
            case 55..<70: try await commit()
            case 70..<78: try abort()
            case 78..<90: try vacuumAndCheck()
            default: try checkReads()
            }
        }
        try vacuumAndCheck()
        while !open.isEmpty {
            if rng.chance(50) { try await commit() } else { try abort() }
        }
        try vacuumAndCheck()
        // Nothing runs: every dead version is gone, one version per row remains.
        let statistics = engine.statistics()
        #expect(statistics.versionsInHeap == model.count, comment)
        #expect(engine.committedBalances() == model, comment)
        for (key, chain) in engine.heapVersions {
            #expect(chain.count == 1 && committed.contains(chain[0].xmin), "row \(key): \(chain); \(comment)")
            // Freezing keeps xmin: the identity stays checkable, the commit log is not needed.
            if freeze { #expect(chain[0].frozen, "row \(key) not frozen; \(comment)") }
        }
        if freeze { #expect(statistics.commitLogEntries == 0, "commit log not truncated; \(comment)") }
        #expect(Dictionary(uniqueKeysWithValues: engine.committedRows().map { ($0.key, $0.xmin) }) == writer, comment)
        try await checkpointAndRecover()
    }

    func begin() throws {
        let xid = try engine.begin()
        open.append(OpenTransaction(xid: xid, snapshots: [(try engine.snapshot(for: xid), model)]))
    }

    func takeSnapshot() throws {
        guard let index = open.indices.randomElement(using: &rng) else { return }
        open[index].snapshots.append((try engine.snapshot(for: open[index].xid), model))
    }

    func write() throws {
        guard let index = open.indices.randomElement(using: &rng) else { return }
        let key = AccountID.random(in: Self.keys, using: &rng)
        let balance = Int64.random(in: 0...1_000, using: &rng)
        let transaction = open[index]
        // Snapshot isolation with its first snapshot, or read committed with its latest.
        let snapshot = rng.chance(70) ? transaction.snapshots[0].snapshot : transaction.snapshots.last!.snapshot
        do throws(StorageError) {
            try engine.write(key, Row(balance: balance), for: transaction.xid, snapshot: snapshot)
            open[index].writes[key] = balance
        } catch {
            switch error {
            case .rowLocked, .concurrentUpdate:
                try engine.abort(transaction.xid)
                if !transaction.writes.isEmpty { aborted.insert(transaction.xid) }
                open.remove(at: index)
            default: throw error
            }
        }
    }

    func commit() async throws {
        guard let index = open.indices.randomElement(using: &rng) else { return }
        let transaction = open.remove(at: index)
        try await engine.commit(transaction.xid)
        model.merge(transaction.writes) { $1 }
        for key in transaction.writes.keys { writer[key] = transaction.xid }
        if !transaction.writes.isEmpty { committed.insert(transaction.xid) }
    }

    func abort() throws {
        guard let index = open.indices.randomElement(using: &rng) else { return }
        let transaction = open.remove(at: index)
        try engine.abort(transaction.xid)
        if !transaction.writes.isEmpty { aborted.insert(transaction.xid) }
    }

    /// What every open snapshot reads for every row, in a fixed order.
    func allReads() throws -> [Int64?] {
        var reads: [Int64?] = []
        for transaction in open {
            for (snapshot, _) in transaction.snapshots {
                for key in Self.keys { reads.append(try engine.read(key, snapshot: snapshot)?.balance) }
            }
        }
        return reads
    }

    /// Every open snapshot reads its transaction's own writes over what was committed when it
    /// was taken.
    func checkReads() throws {
        for transaction in open {
            for (snapshot, snapshotModel) in transaction.snapshots {
                for key in Self.keys {
                    let read = try engine.read(key, snapshot: snapshot)?.balance
                    let expected = transaction.writes[key] ?? snapshotModel[key]
                    #expect(read == expected, "row \(key) through a snapshot of \(transaction.xid); \(comment)")
                }
            }
        }
    }

    func vacuumAndCheck() throws {
        let readsBefore = try allReads()
        let heapBefore = engine.heapVersions
        let versionsBefore = engine.statistics().versionsInHeap
        let abortedBefore = heapBefore.values.joined().filter { aborted.contains($0.xmin) }.count
        let report = engine.vacuum(freeze: freeze)
        vacuums += 1
        versionsRemoved += report.versionsRemoved
        let versionsAfter = engine.statistics().versionsInHeap
        #expect(try allReads() == readsBefore, "an open snapshot reads differently after vacuum; \(comment)")
        try checkReads()
        #expect(versionsBefore - versionsAfter == report.versionsRemoved, comment)
        if abortedBefore > 0 { #expect(versionsAfter < versionsBefore, comment) }

        // No snapshot of a running transaction can see a version replaced by a commit below the
        // oldest of them: vacuum removed those, and every version of an aborted transaction.
        var horizon = engine.highestTransactionID + 1
        for transaction in open {
            horizon = min(horizon, transaction.xid)
            for (snapshot, _) in transaction.snapshots { horizon = min(horizon, snapshot.xmin) }
        }
        #expect(report.horizon == horizon, comment)
        for (key, chain) in engine.heapVersions {
            for version in chain {
                #expect(!aborted.contains(version.xmin), "row \(key) keeps a version of aborted \(version.xmin)")
                let replacedBelowHorizon =
                    committed.contains(version.xmin) && committed.contains(version.xmax) && version.xmax < horizon
                #expect(!replacedBelowHorizon, "row \(key) keeps a dead version \(version); \(comment)")
            }
        }
    }

    func checkpointAndRecover() async throws {
        try engine.checkpoint()
        let rows = engine.committedRows()
        let hash = engine.stateHash()
        engine.crash()
        engine = try StorageEngine(directory: directory, options: options)
        #expect(engine.recovery.checkpointLoaded, comment)
        #expect(engine.committedRows() == rows, comment)
        #expect(engine.stateHash() == hash, comment)
        // The recovered engine goes on: a new transaction reads the committed state.
        let xid = try engine.begin()
        let snapshot = try engine.snapshot(for: xid)
        for key in Self.keys { #expect(try engine.read(key, snapshot: snapshot)?.balance == model[key], comment) }
        try engine.close()
    }
}

@Suite("Vacuum")
struct VacuumTests {
    @Test("vacuum never changes what an open snapshot reads, and removes the dead versions")
    func vacuumPreservesOpenSnapshots() async {
        await propertyCheck(count: 50, input: Gen.int(in: 0...1_000_000)) { seed in
            await failOnThrow("seed \(seed)") {
                try await withTemporaryDirectory { directory in
                    let scenario = try VacuumScenario(seed: seed, directory: directory)
                    try await scenario.run()
                }
            }
        }
    }

    @Test("freezing never changes what an open snapshot reads, keeps every xmin, and empties the commit log")
    func freezingPreservesOpenSnapshots() async {
        await propertyCheck(count: 50, input: Gen.int(in: 0...1_000_000)) { seed in
            await failOnThrow("seed \(seed)") {
                try await withTemporaryDirectory { directory in
                    let scenario = try VacuumScenario(seed: seed, directory: directory, freeze: true)
                    try await scenario.run()
                }
            }
        }
    }

    @Test("a version an open snapshot reads is kept; once the reader ends, it goes")
    func openSnapshotKeepsItsVersion() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            try await engine.commitWrites([1: 100])
            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            for balance in [200, 300, 400] as [Int64] { try await engine.commitWrites([1: balance]) }
            #expect(engine.statistics().versionsInHeap == 4)
            let report = engine.vacuum()
            #expect(report.horizon == reader)
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 100)
            try await engine.commit(reader)
            let after = engine.vacuum()
            #expect(after.versionsRemoved == 4 - report.versionsRemoved - 1)
            #expect(engine.statistics().versionsInHeap == 1)
            #expect(engine.committedBalances() == [1: 400])
            try engine.close()
        }
    }

    @Test("aborted versions go even while a snapshot is open, and unreferenced commit log entries with them")
    func abortedVersionsAndCommitLog() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            try await engine.commitWrites([1: 100])
            try await engine.commitWrites([1: 150])
            let loser = try engine.begin()
            try engine.write(1, Row(balance: 1), for: loser, snapshot: nil)
            try engine.write(2, Row(balance: 2), for: loser, snapshot: nil)
            try engine.abort(loser)
            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            #expect(engine.statistics().commitLogEntries == 3)
            let report = engine.vacuum()
            #expect(report.versionsRemoved == 3, "the replaced version and both aborted ones")
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 150)
            #expect(try engine.read(2, snapshot: snapshot) == nil)
            #expect(engine.heapVersions[2] == nil)
            // The first writer's entry is unreferenced; the loser's is still named by xmax of row 1.
            #expect(report.commitLogEntriesRemoved == 1)
            #expect(engine.statistics().commitLogEntries == 2)
            try engine.close()
        }
    }
}
