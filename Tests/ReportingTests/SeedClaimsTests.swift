import Foundation
import Results
import Testing
import WorkloadSpec

@testable import Reporting

/// A variant whose classes have the given p50 (all samples at that value) and committed counts.
func claimVariant(_ name: String, _ parameters: [String: String], p50Micros: [TransferClass: UInt64], committed: Int)
    -> VariantResult
{
    let recorder = ClientRecorder()
    for (transferClass, micros) in p50Micros {
        for _ in 0..<committed {
            recorder.record(transferClass, endToEndMicros: micros, l2: micros, l1: 0, l0: 0, outcome: .committed)
        }
    }
    return VariantResult(name: name, parameters: parameters, durationSeconds: 1, classes: recorder.results())
}

@Suite("Seed claims per switch and class")
struct SeedClaimsTests {
    static func run() -> RunResult {
        func params(_ locality: Bool, _ batch: Bool) -> [String: String] {
            ["locality": String(locality), "batch_commit": String(batch), "async_replication": "false"]
        }
        let variants = [
            claimVariant(
                "baseline", params(false, false), p50Micros: [.singleRegion: 150_000, .crossRegion: 300_000],
                committed: 100),
            claimVariant(
                "batch_commit", params(false, true), p50Micros: [.singleRegion: 150_000, .crossRegion: 300_000],
                committed: 500),
            claimVariant(
                "locality", params(true, false), p50Micros: [.singleRegion: 5_000, .crossRegion: 200_000],
                committed: 100),
        ]
        return RunResult(
            specName: "claims", runID: "20261126-140000-0002", startedAt: "2026-11-26T14:00:00Z", spec: "",
            machine: MachineInfo(cores: 2, memoryBytes: 8 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
            variants: variants)
    }

    @Test("each switch x class: the measured change of the claim's metric and a verdict, met or not")
    func rows() throws {
        let rows = SeedClaims.rows(Self.run())
        #expect(rows.count == 4)
        let single = try #require(
            rows.first { $0.claim.optimisation == "locality" && $0.transferClass == .singleRegion })
        #expect(single.offVariant == "baseline" && single.onVariant == "locality")
        // 150 ms -> 5 ms is -96.7 %: beyond the claimed -93 %.
        #expect(single.met)
        #expect(single.verdict.hasPrefix("met (-96."))
        let cross = try #require(rows.first { $0.claim.optimisation == "locality" && $0.transferClass == .crossRegion })
        // 300 ms -> 200 ms is -33 %: short of it.
        #expect(!cross.met)
        #expect(cross.verdict == "not met (-33.3 %)")
        let batch = rows.filter { $0.claim.optimisation == "batch_commit" }
        #expect(batch.count == 2)
        // 100 -> 500 TPS is +400 %: meets +300 %.
        #expect(batch.allSatisfy { $0.met && $0.claim.metric == .tps && $0.off == 100 && $0.on == 500 })
        #expect(!rows.contains { $0.claim.optimisation == "async_replication" })
        // A class with no successes on either side (refused by the engine) is not measured, not
        // "not met".
        let claim = try #require(SeedClaims.claims.first)
        let empty = SeedClaims.Row(
            claim: claim, offVariant: "a", onVariant: "b", transferClass: .global, off: 0, on: 0)
        #expect(empty.measuredChangePercent == nil)
        #expect(!empty.met)
        #expect(empty.verdict == "not measured (no committed transfers)")
    }

    @Test("latency claims are also held per client region: the fast region's clients do not hide the slow one's")
    func perClientRegion() throws {
        func region(_ name: String, _ micros: UInt64, _ count: Int) -> RegionResult {
            let recorder = ClientRecorder()
            for _ in 0..<count {
                recorder.record(.singleRegion, endToEndMicros: micros, l2: micros, l1: 0, l0: 0, outcome: .committed)
            }
            return RegionResult(region: name, classes: recorder.results())
        }
        func variant(_ name: String, locality: Bool, near: UInt64, far: UInt64) -> VariantResult {
            // The near region's clients complete 9 transfers for each of the far region's.
            var result = claimVariant(
                name, ["locality": String(locality), "batch_commit": "false", "async_replication": "false"],
                p50Micros: [.singleRegion: near], committed: 90)
            result.regions = [region("near", near, 90), region("far", far, 10)]
            return result
        }
        var run = Self.run()
        run.variants = [
            variant("baseline", locality: false, near: 2_000, far: 160_000),
            variant("locality", locality: true, near: 1_500, far: 1_500),
        ]
        let rows = SeedClaims.rows(run).filter { $0.claim.optimisation == "locality" }
        #expect(rows.map(\.clientRegion) == [nil, "near", "far"])
        let far = try #require(rows.first { $0.clientRegion == "far" })
        #expect(far.off == 160_000 && far.on == 1_500 && far.met, "160 ms -> 1.5 ms: -99 %")
        let near = try #require(rows.first { $0.clientRegion == "near" })
        #expect(!near.met, "2 ms -> 1.5 ms: -25 %")
    }

    @Test("summary.md shows the claims table; a run that varies nothing has none")
    func markdown() {
        let text = SummaryMarkdown.render(Self.run())
        #expect(text.contains("## Claims"))
        #expect(text.contains("| locality | cross_region | all | baseline → locality | p50 ms | 300.0 → 200.0 |"))
        #expect(text.contains("not met (-33.3 %)"))
        #expect(text.contains("| batch_commit | single_region | all | baseline → batch_commit | TPS | 100 → 500 |"))
        var one = Self.run()
        one.variants = [one.variants[0]]
        #expect(!SummaryMarkdown.render(one).contains("## Claims"))
    }
}

@Suite("L2 breakdown in summary.md")
struct L2BreakdownMarkdownTests {
    @Test("a table per variant x class: mean per span, its share of L2, and what no span accounts for")
    func table() {
        let recorder = ClientRecorder()
        for _ in 0..<4 {
            recorder.record(
                .crossRegion, endToEndMicros: 200_000, l2: 180_000, l1: 10_000, l0: 10_000, outcome: .committed,
                l2Spans: L2Spans([.timestamp: 18_000, .network: 90_000, .decision: 54_000]))
        }
        let run = RunResult(
            specName: "l2", runID: "20261126-140000-0003", startedAt: "2026-11-26T14:00:00Z", spec: "",
            machine: MachineInfo(cores: 2, memoryBytes: 8 << 30, os: "Linux", hostname: "h", cpuModel: "cpu"),
            variants: [VariantResult(name: "baseline", durationSeconds: 1, classes: recorder.results())])
        let text = SummaryMarkdown.render(run)
        #expect(text.contains("## L2 breakdown"))
        #expect(
            text.contains(
                "| baseline | cross_region | 180.0 | 18.00 (10.0 %) | 0 (0.0 %) | 90.00 (50.0 %) | 0 (0.0 %) "
                    + "| 54.00 (30.0 %) | 0 (0.0 %) | 0 (0.0 %) | 18."), "\(text)")
        // A run whose backend reports no breakdown (every span 0) has no such table.
        #expect(!SummaryMarkdown.render(SyntheticRun.standard).contains("## L2 breakdown"))
    }
}

@Suite("Process CPU in summary.md")
struct ProcessCPUMarkdownTests {
    @Test("the CPU per transfer of each variant that measured it; none for runs without it")
    func table() {
        var run = SyntheticRun.standard
        #expect(!SummaryMarkdown.render(run).contains("## Process CPU per transfer"))
        run.variants[0].counters["process_cpu_us_per_transfer"] = 1.25
        run.variants[0].counters["process_cpu_seconds"] = 12
        let text = SummaryMarkdown.render(run)
        #expect(text.contains("## Process CPU per transfer"))
        #expect(text.contains("| base | \(Format.number(run.variants[0].tps)) | 12 | 1.25 |"))
    }
}
