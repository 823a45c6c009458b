import Foundation
import Histogram
import Storage
import Testing
import WorkloadSpec

@testable import Results

/// A shard of a synthetic run: two variants, seeded data, fixed durations.
func resultsShard(_ shard: String, seed: UInt64, spec: String = "name: demo\n") -> RunResult {
    var rng = ResultsSeededRandom(seed: seed)
    let variants = ["batch-off", "batch-on"].map { name -> VariantResult in
        let recorder = ClientRecorder()
        _ = recordCommitted(recorder, .singleRegion, count: 300, rng: &rng)
        _ = recordCommitted(recorder, .crossRegion, count: 100, rng: &rng)
        recorder.record(
            .crossRegion, endToEndMicros: 9, l2: 3, l1: 3, l0: 3, outcome: .failed(sqlstate: "40001"))
        let series = (1...3).map { second in
            TimeSeriesPoint(
                second: second,
                classes: [
                    .init(
                        transferClass: .singleRegion, tps: 100, p50Micros: UInt64(1_000 * second),
                        p99Micros: seed * 1_000, errors: 0, retries: 1)
                ])
        }
        return VariantResult(
            name: name, parameters: ["batch_commit": name == "batch-on" ? "true" : "false"],
            durationSeconds: 10,
            classes: recorder.results(), timeSeries: series,
            counters: ["fsyncs": 400, "commits_per_fsync": seed == 1 ? 1 : 3],
            scheduleLag: nil,
            checks: [
                CheckResult(name: "conservation", passed: seed != 3, detail: "sum ok in shard \(seed)")
            ])
    }
    return RunResult(
        specName: "demo", runID: "20261125-103012-000\(seed)", startedAt: "2026-11-25T10:30:1\(seed)Z",
        spec: spec,
        machine: MachineInfo(
            cores: 2, memoryBytes: 1 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
        versions: ["layerbench": "0.1"], shard: shard, variants: variants)
}

@Suite("RunResult merge and encoding")
struct ResultsRunMergeTests {
    @Test("shards merge: histograms and counts add, TPS sums, time series sums per second")
    func mergeShards() throws {
        let a = resultsShard("1/2", seed: 1)
        let b = resultsShard("2/2", seed: 2)
        let merged = try RunResult.merge([b, a], runID: "merged-id")
        #expect(merged.shard == "1/1")
        // The merged run has its own id (issue 8, item 12) and names the runs it came from.
        #expect(merged.runID == "merged-id")
        #expect(merged.mergedFrom == [a.runID, b.runID])
        #expect(merged.startedAt == a.startedAt)
        #expect(merged.variants.map(\.name) == ["batch-off", "batch-on"])
        let variant = try #require(merged.variant(named: "batch-on"))
        let single = try #require(variant.result(for: .singleRegion))
        let singleA = try #require(a.variant(named: "batch-on")?.result(for: .singleRegion))
        let singleB = try #require(b.variant(named: "batch-on")?.result(for: .singleRegion))
        #expect(single.committed == 600)
        #expect(single.histogram(.endToEnd).totalCount == 600)
        var both = singleA.histogram(.endToEnd)
        both.add(singleB.histogram(.endToEnd))
        #expect(single.percentileMicros(99) == both.valueAtPercentile(99))
        #expect(
            single.tps(durationSeconds: variant.durationSeconds)
                == singleA.tps(durationSeconds: 10) + singleB.tps(durationSeconds: 10))
        #expect(variant.result(for: .crossRegion)?.failed == ["40001": 2])
        #expect(variant.timeSeries.count == 3)
        let second = try #require(variant.timeSeries.first?.point(for: .singleRegion))
        #expect(second.tps == 200)
        #expect(second.retries == 2)
        #expect(second.p99Micros == 2_000)
        #expect(variant.counters["fsyncs"] == 800)
        #expect(variant.counters["commits_per_fsync"] == 2)
        #expect(
            variant.checks == [
                CheckResult(
                    name: "conservation", passed: true,
                    detail: "shard 1/2: sum ok in shard 1; shard 2/2: sum ok in shard 2")
            ])
    }

    @Test("a check fails in the merge when it failed in any shard")
    func mergeFailedCheck() throws {
        let merged = try RunResult.merge([resultsShard("1/3", seed: 1), resultsShard("3/3", seed: 3)])
        #expect(merged.shard == "1/3,3/3")
        #expect(merged.checksPassed == false)
    }

    @Test("runs of different specs, repeated shards or different variants do not merge")
    func mergeErrors() throws {
        #expect(throws: RunMergeError.noRuns) { try RunResult.merge([]) }
        #expect(throws: RunMergeError.self) {
            try RunResult.merge([
                resultsShard("1/2", seed: 1), resultsShard("2/2", seed: 2, spec: "name: other\n"),
            ])
        }
        #expect(throws: RunMergeError.inconsistentShards(["1/2", "1/2"])) {
            try RunResult.merge([resultsShard("1/2", seed: 1), resultsShard("1/2", seed: 2)])
        }
        #expect(throws: RunMergeError.invalidShard(runID: "20261125-103012-0001", shard: "3/2")) {
            try RunResult.merge([resultsShard("3/2", seed: 1)])
        }
        var fewer = resultsShard("2/2", seed: 2)
        fewer.variants.removeLast()
        #expect(throws: RunMergeError.variantMismatch(runID: fewer.runID, variant: "batch-on")) {
            try RunResult.merge([resultsShard("1/2", seed: 1), fewer])
        }
    }

    @Test("JSON round trip keeps every histogram identical and stays compact")
    func jsonRoundTrip() throws {
        var run = resultsShard("1/1", seed: 5)
        let lag = ClientRecorder()
        lag.recordScheduleLag(micros: 1_234)
        run.variants[0].scheduleLag = lag.scheduleLag()
        let data = try JSONEncoder().encode(run)
        let decoded = try JSONDecoder().decode(RunResult.self, from: data)
        #expect(decoded == run)
        let original = try #require(run.variants[0].result(for: .singleRegion))
        let copy = try #require(decoded.variants[0].result(for: .singleRegion))
        for layer in MetricLayer.allCases {
            #expect(copy.histogram(layer) == original.histogram(layer))
            #expect(copy.histogram(layer).mean == original.histogram(layer).mean)
        }
        #expect(decoded.variants[0].scheduleLag?.totalCount == 1)
        // Decoded histograms still merge with freshly recorded ones.
        var merged = copy.histogram(.endToEnd)
        merged.add(original.histogram(.endToEnd))
        #expect(merged.totalCount == 600)
        #expect(data.count < 200_000)
    }

    @Test("a histogram whose counts contradict its total is rejected")
    func corruptHistogram() throws {
        let recorder = ClientRecorder()
        recorder.record(.global, endToEndMicros: 10, l2: 4, l1: 3, l0: 3, outcome: .committed)
        let result = try #require(recorder.results().first)
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        let broken = json.replacingOccurrences(of: "\"totalCount\":1", with: "\"totalCount\":2")
        #expect(broken != json)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ClassResult.self, from: Data(broken.utf8))
        }
    }

    @Test("run ids and shards have the documented shapes")
    func identifiers() {
        let date = Date(timeIntervalSince1970: 1_795_602_612)  // 2026-11-25T10:30:12Z
        #expect(RunResult.makeRunID(date: date, suffix: 0xab12) == "20261125-103012-ab12")
        #expect(RunResult.timestamp(date) == "2026-11-25T10:30:12Z")
        #expect(RunResult.parseShard("2/3").map { [$0.index, $0.count] } == [2, 3])
        #expect(RunResult.parseShard("0/3") == nil)
        #expect(RunResult.parseShard("x") == nil)
        let machine = MachineInfo.current()
        #expect(machine.cores >= 1)
        #expect(machine.memoryBytes > 0)
    }
}
