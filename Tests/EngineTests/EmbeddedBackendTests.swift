import Engine
import Foundation
import Runtime
import Storage
import Testing

/// A fresh data directory per test, removed afterwards.
func withDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "layerbench-engine-tests-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func configuration(
    _ directory: String, durability: Durability = .fsync, isolation: IsolationLevel = .serializable,
    batch: BatchCommitter<Void>.Options? = nil,
    regions: [EngineConfiguration.Region] = [.init(name: "local", replicas: 1)],
    network: EngineConfiguration.Network = .init(), replication: EngineConfiguration.Replication = .sync
) -> EngineConfiguration {
    EngineConfiguration(
        regions: regions, network: network, replication: replication, dataDirectory: directory, durability: durability,
        isolation: isolation,
        runtime: RuntimeOptions(lockTimeout: .seconds(5)), pool: PoolOptions(maxSize: 8), batch: batch,
        payloadBytes: 16, overdraft: false, loadBatchSize: 50)
}

@Suite("Embedded backend")
struct EmbeddedBackendTests {
    @Test("concurrent transfers conserve money, survive a crash, and apply exactly once", arguments: [false, true])
    func transfersAuditClean(batch: Bool) async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(
                configuration: configuration(
                    directory, batch: batch ? .init(maxSize: 4, window: .milliseconds(2)) : nil))
            #expect(try await backend.load(accounts: 20, initialBalance: 100) { _ in } == 20)
            let results = await withTaskGroup(of: [(UInt64, TransferResult)].self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var random = SplitMix64(seed: UInt64(client))
                        var collected: [(UInt64, TransferResult)] = []
                        for sequence in 0..<40 {
                            let from = random.next() % 20
                            let to = (from + 1 + random.next() % 19) % 20
                            let id = UInt64(client) << 32 | UInt64(sequence)
                            let result = await backend.transfer(
                                TransferRequest(id: id, from: from, to: to, amount: Int64(random.next() % 30 + 1)))
                            collected.append((id, result))
                        }
                        return collected
                    }
                }
                var all: [(UInt64, TransferResult)] = []
                for await results in group { all += results }
                return all
            }
            #expect(results.count == 320)
            let failures = results.compactMap { result -> String? in
                if case .failed(let code) = result.1.outcome { return code }
                return nil
            }
            // Under this much contention a transfer may exhaust its retries; nothing else may fail.
            #expect(failures.allSatisfy { $0 == "40001" || $0 == "40P01" }, "failures: \(failures)")
            #expect(results.contains { $0.1.outcome == .committed })
            var acknowledged: [UInt64: TransactionID] = [:]
            for (id, result) in results where result.outcome == .committed { acknowledged[id] = result.xid }
            let report = try await backend.audit(
                AuditExpectation(accounts: 20, initialBalance: 100, overdraft: false, acknowledged: acknowledged))
            #expect(report.actualTotal == 2_000)
            #expect(report.expectedTotal == 2_000)
            #expect(report.negativeAccounts == 0)
            #expect(report.lost == 0)
            #expect(report.xidMismatches == 0)
            #expect(report.balanceMismatches == 0)
            try await backend.shutdown()
        }
    }

    @Test("every transfer's layers add up to its end-to-end latency exactly")
    func layersAddUp() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(configuration: configuration(directory))
            _ = try await backend.load(accounts: 10, initialBalance: 1_000) { _ in }
            var committed = 0
            for id in 0..<200 {
                let result = await backend.transfer(
                    TransferRequest(id: UInt64(id), from: UInt64(id % 10), to: UInt64((id + 3) % 10), amount: 1))
                #expect(result.l2Nanos + result.l1Nanos + result.l0Nanos == result.endToEndNanos)
                #expect(result.l0Nanos > 0, "storage work and the WAL flush are L0")
                if result.outcome == .committed { committed += 1 }
            }
            #expect(committed == 200)
            try await backend.shutdown()
        }
    }

    @Test("insufficient funds is a rejection that changes nothing")
    func rejection() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(configuration: configuration(directory))
            _ = try await backend.load(accounts: 2, initialBalance: 10) { _ in }
            let result = await backend.transfer(TransferRequest(id: 1, from: 0, to: 1, amount: 11))
            #expect(result.outcome == .rejected)
            let ok = await backend.transfer(TransferRequest(id: 2, from: 0, to: 1, amount: 10))
            #expect(ok.outcome == .committed)
            let report = try await backend.audit(
                AuditExpectation(accounts: 2, initialBalance: 10, overdraft: false, acknowledged: [2: ok.xid]))
            #expect(report.actualTotal == 20)
            #expect(report.lost == 0 && report.balanceMismatches == 0 && report.negativeAccounts == 0)
        }
    }

    @Test("without fsync, a power failure loses acknowledged transfers and the audit counts every one")
    func lossIsReported() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(configuration: configuration(directory, durability: .none))
            _ = try await backend.load(accounts: 4, initialBalance: 10) { _ in }
            var acknowledged: [UInt64: TransactionID] = [:]
            for id in 0..<20 {
                let result = await backend.transfer(
                    TransferRequest(id: UInt64(id), from: UInt64(id % 4), to: UInt64((id + 1) % 4), amount: 1))
                if result.outcome == .committed { acknowledged[UInt64(id)] = result.xid }
            }
            #expect(acknowledged.count == 20)
            let report = try await backend.audit(
                AuditExpectation(accounts: 4, initialBalance: 10, overdraft: false, acknowledged: acknowledged))
            #expect(report.lost == 20, "nothing was ever fsynced, so the power failure loses it all")
        }
    }

    @Test("shapes the engine cannot assemble are refused with a reason")
    func unsupported() async throws {
        try await withDataDirectory { directory in
            #expect(throws: UnsupportedConfiguration.self) {
                _ = try EmbeddedBackend(configuration: configuration(directory, regions: []))
            }
            #expect(throws: UnsupportedConfiguration.self) {
                _ = try EmbeddedBackend(
                    configuration: configuration(directory, regions: [.init(name: "a", replicas: 0)]))
            }
            // Several regions, and replicas, are Raft groups now (see "Replicated regions").
            let replicated = try EmbeddedBackend(
                configuration: configuration(
                    directory, regions: [.init(name: "a", replicas: 1), .init(name: "b", replicas: 3)]))
            #expect(replicated.counters().nodes.count == 4)
            try await replicated.shutdown()
        }
    }
}
