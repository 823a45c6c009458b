import Engine
import Results
import Storage
import Synchronization
import Testing
import Workload
import WorkloadSpec

/// Two regions of one node each: the east node counts each transfer once, the west node twice,
/// and both count the load, so the measured phase's counters differ from the cumulative ones.
final class TwoRegionCountingBackend: Backend {
    let name = "two-region counting"
    private let transfers = Atomic<Int>(0)
    private let loaded = Atomic<Int>(0)
    static let east = NodeID(region: "east", replica: 0)
    static let west = NodeID(region: "west", replica: 0)

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        loaded.store(count, ordering: .relaxed)
        return count
    }

    func transfer(_ request: TransferRequest) async -> TransferResult {
        transfers.add(1, ordering: .relaxed)
        return await NullBackend().transfer(request)
    }

    func counters() -> BackendCounters {
        let n = Double(transfers.load(ordering: .relaxed))
        let load = Double(loaded.load(ordering: .relaxed))
        return BackendCounters(nodes: [
            Self.east: ["transfers_seen": load + n, "rows_loaded": load],
            Self.west: ["transfers_seen": load + 2 * n],
        ])
    }

    func gauges() -> [String: Double] { [:] }

    func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        try await NullBackend().audit(expectation)
    }

    func shutdown() async throws {}
}

@Suite("Driver counters")
struct DriverCountersTests {
    @Test("run counters are the measured phase's change, summed over every node of every region")
    func measuredTotals() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [1])
            $0.length = .transactions(300)
        }
        let result = try await runFirstVariant(spec) { _ in TwoRegionCountingBackend() }
        #expect(result.committed == 300)
        #expect(result.counters["transfers_seen"] == 900, "300 on east plus 600 on west, the load excluded")
        #expect(result.counters["rows_loaded"] == 0, "loaded before measuring")
    }

    @Test("a stateless backend's durability check says it has nothing to recover")
    func statelessRecoveryText() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [1])
            $0.length = .transactions(10)
        }
        let result = try await runFirstVariant(spec) { _ in NullBackend() }
        let durability = try #require(result.checks.first { $0.name == "durability" })
        #expect(durability.detail.contains("no state: nothing stored, nothing to recover"))
    }

    @Test(
        "the durability check names each node's recovery: checkpoint, records, commits, aborted, prepared, torn bytes")
    func embeddedRecoveryText() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [2])
            $0.length = .transactions(50)
        }
        let result = try await runFirstVariant(spec) { try EmbeddedBackend(configuration: $0) }
        let durability = try #require(result.checks.first { $0.name == "durability" })
        #expect(durability.passed, "\(durability.detail)")
        let pattern =
            #/\S+/node-0: checkpoint (loaded|none), \d+ WAL records replayed, [1-9]\d* commits, 0 in-progress aborted, 0 prepared restored, \d+ torn bytes cut/#
        #expect(durability.detail.contains(pattern), "\(durability.detail)")
        #expect((result.counters["runtime_commits"] ?? 0) >= Double(result.committed), "totals over the one node")
    }
}
