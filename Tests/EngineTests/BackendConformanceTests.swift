import Engine
import Foundation
import Runtime
import Storage
import Synchronization
import Testing

/// A backend under test: how to assemble it over a data directory, and whether it keeps state
/// (a stateless backend cannot reject for funds, find an unknown account, or lose anything).
struct BackendFactory: Sendable, CustomTestStringConvertible {
    let name: String
    let keepsState: Bool
    /// The nodes a stateful backend reports (counters, recoveries, state hashes), sorted.
    var nodes: [NodeID] = [NodeID(region: "local", replica: 0)]
    let make: @Sendable (_ directory: String, _ durability: Durability) throws -> any Backend

    var testDescription: String { name }

    static let embedded = BackendFactory(name: "embedded", keepsState: true) { directory, durability in
        try EmbeddedBackend(configuration: configuration(directory, durability: durability))
    }
    static let embeddedBatched = BackendFactory(name: "embedded, batch commit", keepsState: true) {
        directory, durability in
        try EmbeddedBackend(
            configuration: configuration(
                directory, durability: durability, batch: .init(maxSize: 4, window: .milliseconds(1))))
    }
    static let null = BackendFactory(name: "null", keepsState: false) { _, _ in NullBackend() }
    /// One region of three replicas (a Raft group over the simulated network, 1 ms apart).
    static func replicated(_ replication: EngineConfiguration.Replication, batch: Bool = false) -> BackendFactory {
        BackendFactory(
            name: "embedded, 3 replicas, \(replication) replication\(batch ? ", batch commit" : "")", keepsState: true,
            nodes: (0..<3).map { NodeID(region: "local", replica: $0) }
        ) { directory, durability in
            var replicated = configuration(
                directory, durability: durability, batch: batch ? .init(maxSize: 4, window: .milliseconds(1)) : nil,
                regions: [.init(name: "local", replicas: 3)], network: .init(intraRegionRTT: .milliseconds(1)),
                replication: replication)
            // A lock is held across the replication round (fsyncs on three logs): on a machine
            // loaded by the rest of the suite that can outlast the standalone tests' 5 s, and a
            // lock timeout is timing, not an outcome under test.
            replicated.runtime.lockTimeout = .seconds(120)
            return try EmbeddedBackend(configuration: replicated)
        }
    }

    /// Every backend this build can assemble (PostgreSQL joins when it exists).
    static let all: [BackendFactory] = [
        .embedded, .embeddedBatched, .null, .replicated(.sync), .replicated(.async), .replicated(.sync, batch: true),
    ]
    /// The backends that keep state.
    static let stateful = all.filter(\.keepsState)
}

/// What every backend must do, whatever it is made of: the contract the driver relies on.
@Suite("Backend conformance")
struct BackendConformanceTests {
    static let invalidInput = TransferResult.invalidInputSQLState

    /// A fresh backend over a fresh directory, loaded with `accounts` accounts of `balance`.
    func withLoadedBackend(
        _ factory: BackendFactory, accounts: Int, balance: Int64, durability: Durability = .fsync,
        _ body: (any Backend) async throws -> Void
    ) async throws {
        try await withDataDirectory { directory in
            let backend = try factory.make(directory, durability)
            #expect(try await backend.load(accounts: accounts, initialBalance: balance) { _ in } == accounts)
            try await body(backend)
            try await backend.shutdown()
        }
    }

    /// A global transfer: `debit` pays `amount`, split over `credits` (the remainder to the first).
    static func global(id: UInt64, debit: AccountID, credits: [AccountID], amount: Int64) -> TransferRequest {
        let share = amount / Int64(credits.count)
        var legs = [TransferLeg(account: debit, amount: -amount)]
        for (index, account) in credits.enumerated() {
            legs.append(TransferLeg(account: account, amount: share + (index == 0 ? amount % Int64(credits.count) : 0)))
        }
        return TransferRequest(id: id, clientRegion: 0, legs: TransferLegs(legs))
    }

    @Test("load creates every account and reports its progress", arguments: BackendFactory.all)
    func load(factory: BackendFactory) async throws {
        try await withDataDirectory { directory in
            let backend = try factory.make(directory, .fsync)
            let reported = Mutex<[Int]>([])
            let loaded = try await backend.load(accounts: 300, initialBalance: 7) { count in
                reported.withLock { $0.append(count) }
            }
            #expect(loaded == 300)
            let steps = reported.withLock { $0 }
            #expect(steps.last == 300 && steps == steps.sorted(), "progress \(steps)")
            let report = try await backend.audit(
                AuditExpectation(accounts: 300, initialBalance: 7, overdraft: false, acknowledged: [:]))
            #expect(report.expectedTotal == 2_100 && report.actualTotal == 2_100)
            #expect(report.accountsFound == 300)
            try await backend.shutdown()
        }
    }

    @Test("a valid transfer commits with a transaction id, and its layers add up", arguments: BackendFactory.all)
    func committed(factory: BackendFactory) async throws {
        try await withLoadedBackend(factory, accounts: 4, balance: 100) { backend in
            let results = [
                await backend.transfer(TransferRequest(id: 1, from: 0, to: 1, amount: 10)),
                await backend.transfer(TransferRequest(id: 2, from: 3, to: 2, amount: 100, clientRegion: 0)),
                await backend.transfer(Self.global(id: 3, debit: 1, credits: [0, 2, 3], amount: 50)),
            ]
            for result in results {
                #expect(result.outcome == .committed)
                #expect(result.xid != 0)
                // A replicated backend may redirect (57P01) when a starved machine lets an
                // election happen under the transfer; nothing else is retried.
                #expect(result.retriedErrors.allSatisfy { factory.nodes.count > 1 && $0 == "57P01" })
                #expect(result.l2Nanos + result.l1Nanos + result.l0Nanos == result.endToEndNanos)
            }
            #expect(Set(results.map(\.xid)).count == 3, "one transaction per transfer")
        }
    }

    @Test("a debit beyond the balance is rejected and changes nothing", arguments: BackendFactory.stateful)
    func rejected(factory: BackendFactory) async throws {
        try await withLoadedBackend(factory, accounts: 4, balance: 10) { backend in
            let twoLegs = await backend.transfer(TransferRequest(id: 1, from: 0, to: 1, amount: 11))
            let global = await backend.transfer(Self.global(id: 2, debit: 2, credits: [0, 1, 3], amount: 12))
            #expect(twoLegs.outcome == .rejected && twoLegs.xid == 0)
            #expect(global.outcome == .rejected && global.xid == 0)
            let exact = await backend.transfer(Self.global(id: 3, debit: 2, credits: [0, 1, 3], amount: 10))
            #expect(exact.outcome == .committed, "a debit of the whole balance is covered")
            let report = try await backend.audit(
                AuditExpectation(accounts: 4, initialBalance: 10, overdraft: false, acknowledged: [3: exact.xid]))
            #expect(report.actualTotal == 40)
            #expect(report.lost == 0 && report.balanceMismatches == 0 && report.negativeAccounts == 0)
            #expect(report.xidMismatches == 0)
        }
    }

    @Test("requests no bank would execute fail with 22023 before any write", arguments: BackendFactory.all)
    func invalid(factory: BackendFactory) async throws {
        try await withLoadedBackend(factory, accounts: 4, balance: 100) { backend in
            func legs(_ pairs: [(AccountID, Int64)]) -> TransferLegs {
                TransferLegs(pairs.map { TransferLeg(account: $0.0, amount: $0.1) })
            }
            var invalid: [TransferRequest] = [
                TransferRequest(id: 1, from: 2, to: 2, amount: 10),
                TransferRequest(id: 2, from: 0, to: 1, amount: 0),
                TransferRequest(id: 3, from: 0, to: 1, amount: -50),
                TransferRequest(id: 4, from: 1 << 63 | 1, to: 3, amount: 10),
                TransferRequest(id: 5, legs: legs([(0, -10), (1, 5), (2, 4)])),
                TransferRequest(id: 6, legs: legs([(0, -10), (1, 5), (0, 5)])),
                TransferRequest(id: 7, legs: legs([(0, 10), (1, 5)])),
                TransferRequest(id: 8, legs: legs([(0, -10), (1, 10), (2, 0)])),
                TransferRequest(id: 9, legs: legs([(0, -10)])),
                TransferRequest(id: 10, legs: []),
                TransferRequest(id: 11, legs: legs([(0, .min), (1, .max), (2, 1)])),
            ]
            var mislabelled = TransferRequest(id: 12, from: 0, to: 1, amount: 10)
            mislabelled.amount = 20
            invalid.append(mislabelled)
            if factory.keepsState {
                invalid.append(TransferRequest(id: 13, from: 0, to: 4, amount: 10))
                invalid.append(Self.global(id: 14, debit: 0, credits: [1, 99], amount: 10))
            }
            for request in invalid {
                let result = await backend.transfer(request)
                #expect(
                    result.outcome == .failed(sqlState: Self.invalidInput), "\(request) must be refused: \(result)")
                #expect(result.isInvalidInput && result.xid == 0 && result.retriedErrors.isEmpty)
                #expect(result.l2Nanos + result.l1Nanos + result.l0Nanos == result.endToEndNanos)
            }
            let report = try await backend.audit(
                AuditExpectation(accounts: 4, initialBalance: 100, overdraft: false, acknowledged: [:]))
            #expect(report.actualTotal == 400, "no money created or destroyed")
            #expect(report.balanceMismatches == 0 && report.negativeAccounts == 0)
        }
    }

    @Test(
        "concurrent multi-leg transfers conserve money and apply exactly once, after a crash",
        arguments: BackendFactory.all, [AuditCrash.process, .powerFailure])
    func multiLegConservation(factory: BackendFactory, crash: AuditCrash) async throws {
        let seed: UInt64 = 0x1e65
        try await withLoadedBackend(factory, accounts: 12, balance: 100) { backend in
            let results = await withTaskGroup(of: [(UInt64, TransferResult)].self) { group in
                for client in 0..<4 {
                    group.addTask {
                        var random = SplitMix64(seed: seed &+ UInt64(client))
                        var collected: [(UInt64, TransferResult)] = []
                        for sequence in 0..<25 {
                            let id = UInt64(client) << 32 | UInt64(sequence)
                            let debit = random.next() % 12
                            var credits: [AccountID] = []
                            let count = Int(random.next() % 3) + 1
                            while credits.count < count {
                                let account = random.next() % 12
                                if account != debit && !credits.contains(account) { credits.append(account) }
                            }
                            let amount = Int64(random.next() % 40) + Int64(count)
                            let result = await backend.transfer(
                                Self.global(id: id, debit: debit, credits: credits, amount: amount))
                            collected.append((id, result))
                        }
                        return collected
                    }
                }
                var all: [(UInt64, TransferResult)] = []
                for await part in group { all += part }
                return all
            }
            #expect(results.count == 100)
            var acknowledged: [UInt64: TransactionID] = [:]
            for (id, result) in results {
                switch result.outcome {
                case .committed: acknowledged[id] = result.xid
                case .rejected: #expect(factory.keepsState, "seed \(seed): a stateless backend has no funds to lack")
                case .failed(let code):
                    #expect(code == "40001" || code == "40P01", "seed \(seed): \(code)")
                }
            }
            #expect(!acknowledged.isEmpty, "seed \(seed)")
            let report = try await backend.audit(
                AuditExpectation(
                    accounts: 12, initialBalance: 100, overdraft: false, acknowledged: acknowledged, crash: crash))
            #expect(report.acknowledged == acknowledged.count)
            #expect(report.expectedTotal == 1_200 && report.actualTotal == 1_200, "seed \(seed)")
            #expect(report.lost == 0, "seed \(seed): fsync loses nothing acknowledged")
            #expect(report.xidMismatches == 0 && report.balanceMismatches == 0, "seed \(seed)")
            #expect(report.negativeAccounts == 0, "seed \(seed)")
            #expect(report.accountsFound == 12)
            #expect(report.recoveries.keys.sorted() == report.stateHashes.keys.sorted())
            if factory.keepsState {
                #expect(report.recoveries.keys.sorted() == factory.nodes)
                for node in factory.nodes {
                    let recovery = try #require(report.recoveries[node])
                    #expect(recovery.abortedInProgress == 0 && recovery.preparedRestored == 0)
                    #expect(recovery.committedReplayed > 0 || recovery.checkpointLoaded)
                }
                let hashes = Set(report.stateHashes.values)
                #expect(hashes.count == 1, "seed \(seed): every replica converges to one state")
                #expect(report.replicaXidMismatches == 0, "seed \(seed)")
            } else {
                #expect(report.recoveries.isEmpty)
            }
        }
    }

    @Test("a power failure without fsync loses acknowledged transfers, and the audit counts each")
    func auditCountsLoss() async throws {
        try await withLoadedBackend(.embedded, accounts: 4, balance: 100, durability: .none) { backend in
            var acknowledged: [UInt64: TransactionID] = [:]
            for id in UInt64(0)..<10 {
                let result = await backend.transfer(
                    Self.global(id: id, debit: id % 4, credits: [(id + 1) % 4], amount: 1))
                if result.outcome == .committed { acknowledged[id] = result.xid }
            }
            #expect(acknowledged.count == 10)
            let report = try await backend.audit(
                AuditExpectation(accounts: 4, initialBalance: 100, overdraft: false, acknowledged: acknowledged))
            #expect(report.lost == 10)
        }
    }

    @Test("counters are per node, named by region and replica, and totals sum them", arguments: BackendFactory.all)
    func countersShape(factory: BackendFactory) async throws {
        try await withLoadedBackend(factory, accounts: 4, balance: 100) { backend in
            let before = backend.counters()
            for id in UInt64(1)...5 {
                let result = await backend.transfer(TransferRequest(id: id, from: id % 4, to: (id + 1) % 4, amount: 1))
                #expect(result.outcome == .committed)
            }
            let after = backend.counters()
            guard factory.keepsState else {
                #expect(after.nodes.isEmpty && after.totals.isEmpty)
                return
            }
            let node = NodeID(region: "local", replica: 0)
            #expect(after.nodes.keys.sorted() == factory.nodes)
            #expect(node.description == "local/node-0")
            if factory.nodes == [node] { #expect(after.totals == after.nodes[node]) }
            #expect(after.regions == ["local": after.totals])
            let measured = after.subtracting(before).totals
            #expect(measured["runtime_commits"] == 5, "one transaction per transfer")
            #expect((measured["fsyncs"] ?? 0) >= 1)
        }
    }
}

/// The counters' arithmetic, for the shapes L2 brings (several regions of several replicas).
@Suite("Backend counters")
struct BackendCountersTests {
    @Test("totals sum every node, regions sum their replicas, and differences are per node")
    func arithmetic() {
        let east0 = NodeID(region: "east", replica: 0)
        let east1 = NodeID(region: "east", replica: 1)
        let west0 = NodeID(region: "west", replica: 0)
        let before = BackendCounters(nodes: [east0: ["fsyncs": 1, "gone": 4], east1: ["fsyncs": 2]])
        let after = BackendCounters(nodes: [
            east0: ["fsyncs": 5, "commits": 3], east1: ["fsyncs": 2], west0: ["fsyncs": 7, "commits": 1],
        ])
        #expect(after.totals == ["fsyncs": 14, "commits": 4])
        #expect(after.regions == ["east": ["fsyncs": 7, "commits": 3], "west": ["fsyncs": 7, "commits": 1]])
        let measured = after.subtracting(before)
        #expect(measured.nodes[east0] == ["fsyncs": 4, "commits": 3, "gone": 0])
        #expect(measured.nodes[east1] == ["fsyncs": 0])
        #expect(measured.nodes[west0] == ["fsyncs": 7, "commits": 1], "a node new since counts from zero")
        #expect([west0, east1, east0].sorted() == [east0, east1, west0])
    }
}
