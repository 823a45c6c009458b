import Engine
import Foundation
import Results
import Testing
import WorkloadSpec

@testable import Workload

@Suite("Workload driver: 10,000 clients")
struct HarnessScaleTests {
    @Test("10,000 closed-loop clients against the null backend complete, and every measured transfer is counted")
    func tenThousandClients() async throws {
        let clients = 10_000
        let target = 40_000
        let spec = regionSpec(regions: 3) {
            $0.accounts = 30_000
            $0.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
            $0.load = .closedLoop(clients: [clients])
            $0.length = .transactions(target)
        }
        let backend = RecordingBackend()
        let result = try await runFirstVariant(spec) { _ in backend }
        // The run stops at the target; each client has at most one transfer in flight past it.
        #expect(result.transfers >= target)
        #expect(result.transfers <= target + clients)
        // The null backend commits everything: every measured transfer is a committed one, in
        // some class, and no more were measured than were issued.
        #expect(result.committed == result.transfers)
        #expect(result.transfers <= backend.seen.count)
        #expect(Set(result.classes.map(\.transferClass)) == Set(TransferClass.allCases))
        #expect(result.regions.reduce(0) { $0 + $1.transfers } == result.transfers)
        // Every acknowledged transfer reached the audit.
        #expect(result.checksPassed)
        // The harness's cost per transfer is reported.
        #expect(result.counters["process_cpu_us_per_transfer"] != nil)
        #expect(result.counters["process_cpu_seconds"] != nil)
    }
}
