import Foundation
import Results
import Testing
import WorkloadSpec

@testable import Reporting

/// The topology: us-east, eu-west, ap-south, 3 replicas each; RTT us-east/eu-west 80 ms,
/// us-east/ap-south 190 ms, eu-west/ap-south 120 ms; intra-region 1 ms.
func optimisationsSpec(timestamps: WorkloadSpec.TimestampSource = .hlc, replicas: Int = 3) -> WorkloadSpec {
    var spec = WorkloadSpec(name: "fidelity", accounts: 300)
    spec.regions = ["us-east", "eu-west", "ap-south"].map { WorkloadSpec.Region(name: $0, replicas: replicas) }
    spec.network = WorkloadSpec.Network(
        intraRegionRTT: .milliseconds(1), jitter: .zero,
        rtt: [
            .init("us-east", "eu-west"): .milliseconds(80), .init("us-east", "ap-south"): .milliseconds(190),
            .init("eu-west", "ap-south"): .milliseconds(120),
        ])
    spec.timestamps = timestamps
    spec.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
    return spec
}

@Suite("Latency fidelity: the critical-path minimum")
struct LatencyFidelityTests {
    static let fsync2 = [2.0, 2.0, 2.0]
    static let (us, eu, ap) = (0, 1, 2)

    func minimum(
        _ transferClass: TransferClass, client: Int, locality: Bool, async: Bool = false,
        timestamps: WorkloadSpec.TimestampSource = .hlc, replicas: Int = 3, fsync: [Double] = fsync2
    ) -> Double {
        CriticalPath(spec: optimisationsSpec(timestamps: timestamps, replicas: replicas))
            .minimumMillis(
                transferClass, client: client, locality: locality, asyncReplication: async, fsyncMillis: fsync)
    }

    @Test("locality on, single region: T + C(client region); C = max(fsync, intra RTT + fsync) under sync")
    func localSingle() {
        // C = max(2, 1 + 2) = 3.
        #expect(minimum(.singleRegion, client: Self.eu, locality: true) == 3)
        #expect(minimum(.singleRegion, client: Self.us, locality: true, timestamps: .tso) == 3)
        // TSO in us-east: the eu-west coordinator pays the 80 ms round trip for its timestamp.
        #expect(minimum(.singleRegion, client: Self.eu, locality: true, timestamps: .tso) == 83)
        // Async: the leader's fsync alone; one replica: the leader's fsync alone.
        #expect(minimum(.singleRegion, client: Self.eu, locality: true, async: true) == 2)
        #expect(minimum(.singleRegion, client: Self.eu, locality: true, replicas: 1) == 2)
    }

    @Test("locality off: gateway hop to us-east + T + max W(g) + C(us-east), single region too")
    func globalCoordinator() {
        // us-east client: no hop, W(us-east) = 0 + 3, decision 3.
        #expect(minimum(.singleRegion, client: Self.us, locality: false) == 6)
        // eu-west: 80 + (80 + 3) + 3.
        #expect(minimum(.singleRegion, client: Self.eu, locality: false) == 166)
        // ap-south global: 190 + max(3, 83, 193) + 3.
        #expect(minimum(.global, client: Self.ap, locality: false) == 386)
        // Under TSO the coordinator is the oracle's region: T = 0.
        #expect(minimum(.global, client: Self.ap, locality: false, timestamps: .tso) == 386)
        // cross from eu-west: destinations us-east (max(83, 3) = 83) and ap-south (max(83, 193)):
        // 80 + 83 + 3 = 166 and 80 + 193 + 3 = 276, mean 221.
        #expect(minimum(.crossRegion, client: Self.eu, locality: false) == 221)
    }

    @Test("locality on, cross-region and global: coordinated from the client's region")
    func clientCoordinator() {
        // us-east cross: eu-west (max(3, 83) + 3 = 86) and ap-south (193 + 3 = 196), mean 141.
        #expect(minimum(.crossRegion, client: Self.us, locality: true) == 141)
        // eu-west global: max(83, 3, 123) + 3 = 126.
        #expect(minimum(.global, client: Self.eu, locality: true) == 126)
        // TSO: plus the eu-west -> us-east round trip.
        #expect(minimum(.global, client: Self.eu, locality: true, timestamps: .tso) == 206)
        // Async: C = 2 everywhere: max(82, 2, 122) + 2.
        #expect(minimum(.global, client: Self.eu, locality: true, async: true) == 124)
        // Per-region fsync: ap-south slow (10 ms): max(0 + 3, 80 + 3, 120 + 11) + 3.
        #expect(minimum(.global, client: Self.eu, locality: true, fsync: [2, 2, 10]) == 134)
    }

    @Test("the fsync time is each region's mean over its replicas of fsync ms per fsync")
    func fsyncFromCounters() {
        let measured = CriticalPath.fsyncMillis(nodeCounters: [
            "us-east/node-0": ["raft_append_fsync_ms": 20, "raft_fsyncs": 10],
            "us-east/node-1": ["raft_append_fsync_ms": 30, "raft_fsyncs": 10],
            // Did not fsync: left out, not counted as 0.
            "us-east/node-2": ["raft_append_fsync_ms": 0, "raft_fsyncs": 0],
            // A standalone node (one replica, no Raft): its WAL's fsyncs.
            "eu-west/node-0": ["wal_fsync_ms": 8, "fsyncs": 2],
        ])
        #expect(measured == ["us-east": 2.5, "eu-west": 4])
    }

    @Test("a run's fidelity rows: one per variant x class x client region, minimum from measured fsync")
    func fromRun() throws {
        let spec = optimisationsSpec()
        let regions = spec.regions.map(\.name)
        let recorders = (0..<3).map { ClientRecorder(region: $0) }
        for recorder in recorders {
            for _ in 0..<9 {
                recorder.record(.singleRegion, endToEndMicros: 4_000, l2: 3_000, l1: 500, l0: 500, outcome: .committed)
            }
            recorder.record(.global, endToEndMicros: 300_000, l2: 290_000, l1: 5_000, l0: 5_000, outcome: .committed)
        }
        var nodeCounters: [String: [String: Double]] = [:]
        for region in regions {
            for replica in 0..<3 {
                nodeCounters["\(region)/node-\(replica)"] = ["raft_append_fsync_ms": 20, "raft_fsyncs": 10]
            }
        }
        let variant = VariantResult(
            name: "locality", parameters: ["locality": "true", "async_replication": "false"], durationSeconds: 1,
            classes: ClientRecorder.mergedResults(recorders),
            regions: ClientRecorder.mergedRegionResults(recorders, regions: regions), nodeCounters: nodeCounters)
        var run = RunResult(
            specName: "fidelity", runID: "20261126-140000-0001", startedAt: "2026-11-26T14:00:00Z",
            spec: spec.canonicalYAML,
            machine: MachineInfo(cores: 2, memoryBytes: 8 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
            variants: [variant])
        let fidelity = try #require(LatencyFidelity.compute(run))
        #expect(fidelity.fsyncMillis["locality"] == ["us-east": 2, "eu-west": 2, "ap-south": 2])
        #expect(fidelity.rows.count == 6)
        let single = try #require(
            fidelity.rows.first { $0.transferClass == .singleRegion && $0.clientRegion == "eu-west" })
        #expect(single.minimumMillis == 3)
        #expect(single.transfers == 9)
        #expect(abs(single.measuredP50Millis - 4) < 0.01)
        #expect(abs((single.ratio ?? 0) - 4.0 / 3.0) < 0.01)
        let global = try #require(fidelity.rows.first { $0.transferClass == .global && $0.clientRegion == "eu-west" })
        #expect(global.minimumMillis == 126)
        // In run.json and in summary.md.
        run.latencyFidelity = fidelity
        let decoded = try RunResult.decode(run.jsonData())
        #expect(decoded.latencyFidelity == fidelity)
        let text = SummaryMarkdown.render(run)
        #expect(text.contains("## Latency fidelity"))
        #expect(text.contains("| locality | global | eu-west | 1 | 126.00 |"))
        #expect(text.contains("mean of the per-destination minimums"))
        // A run.json without it still reads.
        var object = try #require(JSONSerialization.jsonObject(with: run.jsonData()) as? [String: Any])
        object["latencyFidelity"] = nil
        #expect(try RunResult.decode(JSONSerialization.data(withJSONObject: object)).latencyFidelity == nil)
    }
}

@Suite("The seed's latency budget in summary.md")
struct SeedBudgetTests {
    @Test("each class's timestamp, 2PC network and fsync next to the seed's 1/50 ms, 2 x RTT and WAL fsync")
    func table() throws {
        let recorder = ClientRecorder(region: 1)
        for _ in 0..<2 {
            recorder.record(
                .global, endToEndMicros: 300_000, l2: 290_000, l1: 5_000, l0: 5_000, outcome: .committed,
                l2Spans: L2Spans([.timestamp: 80_000, .network: 200_000, .decision: 10_000]))
        }
        var nodeCounters: [String: [String: Double]] = [:]
        for region in ["us-east", "eu-west", "ap-south"] {
            nodeCounters["\(region)/node-0"] = ["raft_append_fsync_ms": 30, "raft_fsyncs": 10]
        }
        let variant = VariantResult(
            name: "baseline", parameters: ["locality": "false"], durationSeconds: 1, classes: recorder.results(),
            regions: ClientRecorder.mergedRegionResults([recorder], regions: ["us-east", "eu-west", "ap-south"]),
            nodeCounters: nodeCounters)
        let run = RunResult(
            specName: "budget", runID: "20261126-140000-0004", startedAt: "2026-11-26T14:00:00Z",
            spec: optimisationsSpec(timestamps: .tso).canonicalYAML,
            machine: MachineInfo(cores: 2, memoryBytes: 8 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
            variants: [variant])
        let text = SummaryMarkdown.render(run)
        #expect(text.contains("## The seed's latency budget"))
        // The RTTs 80, 190 and 120 ms average 130 ms: 2 x RTT = 260 ms.
        #expect(text.contains("2PC network ms (seed: 2 x RTT = 260 ms)"))
        #expect(text.contains("| baseline | global | 80.00 | 200.00 | 3.000 | "), "\(text)")
        // No breakdown, no table.
        #expect(!SummaryMarkdown.render(SyntheticRun.standard).contains("## The seed's latency budget"))
    }
}
