import Engine
import Foundation
import Runtime
import Storage
import Testing

@Suite("Replicated regions")
struct ReplicatedRegionsTests {
    @Test("two regions of three replicas: each transfer runs at its region's leader, every replica converges")
    func twoRegions() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(
                configuration: configuration(
                    directory, regions: [.init(name: "east", replicas: 3), .init(name: "west", replicas: 3)],
                    network: .init(
                        intraRegionRTT: .milliseconds(1),
                        interRegionRTT: [[.zero, .milliseconds(40)], [.milliseconds(40), .zero]])))
            #expect(try await backend.load(accounts: 20, initialBalance: 100) { _ in } == 20)
            let placement = AccountPlacement(accounts: 20, regions: 2)
            #expect(placement.accounts(in: 0) == 0..<10 && placement.accounts(in: 1) == 10..<20)
            var acknowledged: [UInt64: TransactionID] = [:]
            for id in UInt64(0)..<40 {
                let region = Int(id % 2)
                let base = AccountID(placement.accounts(in: region).lowerBound)
                let result = await backend.transfer(
                    TransferRequest(
                        id: id, from: base + id % 10, to: base + (id + 3) % 10, amount: 1, clientRegion: region))
                #expect(result.outcome == .committed)
                #expect(result.l2Nanos + result.l1Nanos + result.l0Nanos == result.endToEndNanos)
                acknowledged[id] = result.xid
            }
            // A transfer across the two regions commits by two-phase commit (L2 part 2).
            let cross = await backend.transfer(TransferRequest(id: 99, from: 1, to: 15, amount: 1))
            #expect(cross.outcome == .committed)
            acknowledged[99] = cross.xid
            let counters = backend.counters()
            #expect(counters.nodes.count == 6)
            #expect((counters.regions["east"]?["raft_entries_applied"] ?? 0) >= 3 * 20)
            let report = try await backend.audit(
                AuditExpectation(accounts: 20, initialBalance: 100, overdraft: false, acknowledged: acknowledged))
            #expect(report.lost == 0 && report.xidMismatches == 0 && report.replicaXidMismatches == 0)
            #expect(report.actualTotal == 2_000 && report.balanceMismatches == 0 && report.accountsFound == 20)
            for region in ["east", "west"] {
                let replicas = report.stateHashes.filter { $0.key.region == region }
                #expect(replicas.count == 3 && Set(replicas.values).count == 1, "\(region) converges")
                let applied = report.appliedIndexes.filter { $0.key.region == region }
                #expect(Set(applied.values).count == 1, "\(region): every replica applied the same log")
            }
            try await backend.shutdown()
        }
    }
}
