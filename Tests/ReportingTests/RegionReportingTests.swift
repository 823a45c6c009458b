import Foundation
import Histogram
import Results
import Storage
import Testing
import WorkloadSpec

@testable import Reporting

/// A run of three regions recorded through real recorders (one per client, homed by index).
enum RegionRun {
    static let regions = ["us-east", "eu-west", "ap-south"]

    static func make(seed: UInt64 = 5) -> RunResult {
        var random = SplitMix64(seed: seed)
        let recorders = (0..<7).map { ClientRecorder(region: $0 % regions.count) }
        for index in 0..<2_000 {
            let recorder = recorders[index % recorders.count]
            // Each region a different latency, so a mix-up between regions shows.
            let l2 = UInt64(1_000 * (recorder.region + 1)) + random.next() % 500
            let l1 = 50 + random.next() % 50
            let l0 = 200 + random.next() % 300
            let roll = random.next() % 100
            recorder.record(
                .singleRegion, endToEndMicros: l2 + l1 + l0, l2: l2, l1: l1, l0: l0,
                outcome: roll == 0 ? .failed(sqlstate: "40001") : .committed, retries: roll < 5 ? 1 : 0,
                retriedErrors: roll < 5 ? ["40001"] : [])
        }
        var nodeCounters: [String: [String: Double]] = [:]
        for (index, region) in regions.enumerated() {
            for replica in 0..<3 {
                nodeCounters["\(region)/node-\(replica)"] = [
                    "raft_messages_sent": Double(100 * (index + 1) + replica), "raft_fsyncs": Double(10 + replica),
                    "raft_elections": replica == 0 ? 1 : 0, "fsyncs": 3,
                ]
            }
        }
        let variant = VariantResult(
            name: "baseline", parameters: ["async_replication": "false"], durationSeconds: 10,
            classes: ClientRecorder.mergedResults(recorders),
            regions: ClientRecorder.mergedRegionResults(recorders, regions: regions), counters: ["fsyncs": 27],
            nodeCounters: nodeCounters)
        return RunResult(
            specName: "replicated", runID: "20261126-110000-0001", startedAt: "2026-11-26T11:00:00Z",
            spec: "name: replicated\n",
            machine: MachineInfo(cores: 2, memoryBytes: 8 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
            variants: [variant])
    }
}

@Suite("Reports per region")
struct RegionReportingTests {
    @Test("per-region results partition the variant's: counts, retries and every layer's samples add up")
    func regionsAddUp() throws {
        let variant = try #require(RegionRun.make().variants.first)
        #expect(variant.regions.map(\.region) == RegionRun.regions)
        #expect(ClassResult.merged(variant.regions.flatMap(\.classes)) == variant.classes)
        #expect(variant.regions.reduce(0) { $0 + $1.committed } == variant.committed)
        #expect(variant.regions.reduce(0) { $0 + $1.transfers } == variant.transfers)
        let total = try #require(variant.result(for: .singleRegion))
        #expect(variant.regions.reduce(0) { $0 + ($1.total?.retries ?? 0) } == total.retries)
        #expect(variant.regions.reduce(0) { $0 + ($1.total?.errors ?? 0) } == total.errors)
        for layer in MetricLayer.allCases {
            #expect(
                variant.regions.reduce(UInt64(0)) { $0 + ($1.total?.histogram(layer).totalCount ?? 0) }
                    == total.histogram(layer).totalCount)
        }
        // Clients 0, 3, 6 are us-east's: recorders 0 and 3 record 286 transfers each, 6 records 285.
        #expect(variant.result(forRegion: "us-east")?.transfers == 857)
    }

    @Test("results.csv: region `all` rows per class, then one row set per region adding up to them")
    func csvRegionColumn() throws {
        let run = RegionRun.make()
        let text = ResultsCSV.render(run)
        let rows = try ResultsCSV.parse(text)
        #expect(rows == ResultsCSV.rows(run))
        #expect(text.hasPrefix("variant,region,class,layer,"))
        #expect(rows.count == (1 + RegionRun.regions.count) * MetricLayer.allCases.count)
        #expect(rows.map(\.region).uniqued() == ["all"] + RegionRun.regions)
        for layer in MetricLayer.allCases {
            let all = try #require(rows.first { $0.region == "all" && $0.layer == layer })
            let parts = rows.filter { $0.region != "all" && $0.layer == layer }
            #expect(parts.reduce(UInt64(0)) { $0 + $1.count } == all.count)
            #expect(parts.reduce(0) { $0 + $1.errors } == all.errors)
            #expect(parts.reduce(0) { $0 + $1.retries } == all.retries)
            #expect(abs(parts.reduce(0) { $0 + $1.tps } - all.tps) < 0.01)
        }
        let east = try #require(rows.first { $0.region == "us-east" && $0.layer == .l2 })
        let south = try #require(rows.first { $0.region == "ap-south" && $0.layer == .l2 })
        #expect(east.p50Micros < 1_600 && south.p50Micros > 3_000, "each region keeps its own latency")
    }

    @Test("results.csv written before the region column still parses, every row as region `all`")
    func csvWithoutRegion() throws {
        let header = ResultsCSV.columnsWithoutRegion.joined(separator: ",")
        let rows = try ResultsCSV.parse(header + "\nv,single_region,e2e,10,1.5,2.0,2,3,4,5,6,0,1\n")
        #expect(rows.count == 1)
        #expect(rows[0].region == "all")
        #expect(rows[0].transferClass == .singleRegion)
        #expect(rows[0].count == 10)
        #expect(rows[0].retries == 1)
        #expect(throws: ReportError.self) {
            try ResultsCSV.parse(header + "\nv,all,single_region,e2e,10,1.5,2.0,2,3,4,5,6,0,1\n")
        }
    }

    @Test("summary.md has a table per region and a replication table per region and replica")
    func summaryTables() {
        let text = SummaryMarkdown.render(RegionRun.make())
        #expect(text.contains("## Results by region"))
        for region in RegionRun.regions { #expect(text.contains("| baseline | \(region) |")) }
        #expect(text.contains("## Replication by region and replica"))
        #expect(text.contains("| baseline | **us-east** | 303 | 33 | 1 |"))
        #expect(text.contains("| baseline | ap-south/node-2 | 302 | 12 | 0 |"))
        // A run without regions or Raft counters (older, or one region unreplicated) has neither.
        let plain = SummaryMarkdown.render(SyntheticRun.standard)
        #expect(!plain.contains("## Results by region"))
        #expect(!plain.contains("## Replication by region"))
    }

    @Test("run.json carries regions and node counters, and a run.json without them still reads")
    func json() throws {
        let run = RegionRun.make()
        let decoded = try RunResult.decode(run.jsonData())
        #expect(decoded == run)
        #expect(decoded.variants[0].regions.count == 3)
        // An older run.json: same format version, no `regions` or `nodeCounters` keys.
        var object = try #require(JSONSerialization.jsonObject(with: run.jsonData()) as? [String: Any])
        var variants = try #require(object["variants"] as? [[String: Any]])
        variants[0]["regions"] = nil
        variants[0]["nodeCounters"] = nil
        object["variants"] = variants
        let older = try RunResult.decode(JSONSerialization.data(withJSONObject: object))
        #expect(older.variants[0].regions.isEmpty)
        #expect(older.variants[0].nodeCounters.isEmpty)
        #expect(older.variants[0].classes == run.variants[0].classes)
    }

    @Test("merging shards merges each region and each node's counters")
    func merge() throws {
        var first = RegionRun.make(seed: 1)
        var second = RegionRun.make(seed: 2)
        first.shard = "1/2"
        second.shard = "2/2"
        let merged = try RunResult.merge([first, second])
        let variant = try #require(merged.variants.first)
        for region in RegionRun.regions {
            #expect(
                variant.result(forRegion: region)?.transfers
                    == (first.variants[0].result(forRegion: region)?.transfers ?? 0)
                    + (second.variants[0].result(forRegion: region)?.transfers ?? 0))
        }
        #expect(ClassResult.merged(variant.regions.flatMap(\.classes)) == variant.classes)
        #expect(variant.nodeCounters["us-east/node-1"]?["raft_messages_sent"] == 202)
    }
}

@Suite("Metrics per region")
struct RegionMetricsTests {
    @Test("a run of several regions has a `region:<name>` scope per region for compare and gate")
    func regionScopes() throws {
        let run = RegionRun.make()
        let metrics = RunMetrics(run)
        #expect(metrics.scopes["baseline"] == ["all", "single_region"] + RegionRun.regions.map { "region:" + $0 })
        var committed = 0.0
        for region in RegionRun.regions {
            let value = try #require(metrics.value(variant: "baseline", scope: "region:" + region, metric: "committed"))
            #expect(value == Double(run.variants[0].result(forRegion: region)?.committed ?? -1))
            committed += value
        }
        #expect(committed == metrics.value(variant: "baseline", metric: "committed"))
        // Gating a region's p99 against itself passes; against a slower baseline it improved.
        let gate = Gate(metrics: [try GateMetric("*/region:ap-south/p99_ms", threshold: GateThreshold(relative: 10))])
        let report = gate.evaluate(run: run, baseline: run)
        #expect(report.rows.count == 1)
        #expect(report.rows.first?.verdict == .ok)
        // A run of one region has no region scope (it would repeat `all`).
        var single = run
        single.variants[0].regions = [RegionResult(region: "local", classes: run.variants[0].classes)]
        #expect(RunMetrics(single).scopes["baseline"] == ["all", "single_region"])
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
