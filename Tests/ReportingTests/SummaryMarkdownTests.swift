import Results
import Testing
import WorkloadSpec

@testable import Reporting

@Suite("summary.md")
struct SummaryMarkdownTests {
    static let run = SyntheticRun.standard

    @Test("has the headline, per-layer, counters and checks tables and links the charts")
    func sections() {
        let summary = SummaryMarkdown.render(Self.run)
        #expect(summary.hasPrefix("# LayerBench: demo"))
        for heading in [
            "## Results", "## Latency by layer", "## Optimisations on/off", "## Engine counters",
            "## Checks",
            "## Throughput over time",
        ] {
            #expect(summary.contains("\n" + heading + "\n"), "\(heading)")
        }
        #expect(
            summary.contains(
                "| variant | class | committed | TPS | p50 ms | p99 ms | p99.9 ms | errors | retries |"))
        #expect(summary.contains("| conservation | PASS |"))
        #expect(summary.contains("![Throughput over time](tps-over-time.svg)"))
        #expect(summary.contains("### Errors by SQLSTATE"))
    }

    @Test("optimisation deltas pair variants that differ only in one switch and test the claims")
    func optimisationDeltas() throws {
        let deltas = OptimisationDelta.deltas(Self.run)
        #expect(Set(deltas.map(\.optimisation)) == ["batch_commit", "locality"])
        let batch = try #require(
            deltas.first { $0.optimisation == "batch_commit" && $0.transferClass == nil })
        #expect(batch.offVariant == "base")
        #expect(batch.onVariant == "batch-on")
        #expect(batch.claim?.text == "TPS +300 %")
        let tpsChange = try #require(batch.tpsChangePercent)
        #expect(abs(tpsChange - 200) < 5)
        #expect(batch.claim?.verdict(measuredChangePercent: tpsChange).hasPrefix("partial") == true)

        let locality = try #require(
            deltas.first { $0.optimisation == "locality" && $0.transferClass == .singleRegion })
        let p50Change = try #require(locality.p50ChangePercent)
        #expect(p50Change < -90)
        #expect(locality.claim?.verdict(measuredChangePercent: p50Change) == "meets claim")
        #expect(deltas.filter { $0.claim != nil }.count == 2)

        let summary = SummaryMarkdown.render(Self.run)
        #expect(summary.contains("TPS +300 %"))
        #expect(summary.contains("meets claim"))
    }

    @Test("async replication's cost is shown next to its claim")
    func asyncReplicationCost() throws {
        var run = Self.run
        run.variants = Array(run.variants.prefix(2))
        run.variants[0].parameters = ["async_replication": "off"]
        run.variants[1].parameters = ["async_replication": "on"]
        run.variants[1].counters["lost_acknowledged_transfers"] = 3
        let delta = try #require(OptimisationDelta.deltas(run).first { $0.claim != nil })
        #expect(delta.cost?.contains("lost_acknowledged_transfers = 3") == true)
        #expect(SummaryMarkdown.render(run).contains("What the optimisation cost"))
    }

    @Test("the progress line shows totals and per-class figures")
    func progressLine() {
        let point = TimeSeriesPoint(
            second: 12,
            classes: [
                .init(
                    transferClass: .singleRegion, tps: 980, p50Micros: 1_200, p99Micros: 3_400, errors: 1,
                    retries: 3)
            ])
        #expect(
            ProgressLine.render(variant: "base", point: point)
                == "[base] 12s 980 tps | single_region 980 tps p50 1.20 p99 3.40 ms | errors 1 retries 3")
    }
}

@Suite("Progress line width")
struct ProgressLineWidthTests {
    @Test("a progress line is cut to the terminal width so it never wraps")
    func fitsWidth() {
        let line = String(repeating: "x", count: 200)
        #expect(ProgressLine.fit(line, width: 80).count == 79)
        #expect(ProgressLine.fit("short", width: 80) == "short")
        #expect(ProgressLine.fit(line, width: 0).count == 200)
    }
}

@Suite("summary.md: side by side with pgbench")
struct PgbenchSectionTests {
    @Test("the section quotes the script pgbench ran, not a fixed description of another one")
    func quotesTheScript() {
        var run = SyntheticRun.standard
        let script =
            "\\set a random(0, :naccounts - 1)\nBEGIN ISOLATION LEVEL READ COMMITTED;\nSELECT lb_participate(1);\nEND;\n"
        run.variants[0].pgbench = PgbenchResult(
            clients: 16, threads: 2, durationSeconds: 10, transactions: 1_000, failedTransactions: 0, tps: 100,
            latencyAverageMs: 2, latencyStddevMs: nil, command: "pgbench -M prepared -f transfer.sql", script: script)
        let summary = SummaryMarkdown.render(run)
        #expect(summary.contains("## Side by side with pgbench"))
        #expect(summary.contains("SELECT lb_participate(1);"), "\(summary)")
        // The statements-by-statements description belongs to the other script only.
        #expect(!summary.contains("two UPDATEs; the ledger INSERT"))
        #expect(summary.contains("`pgbench -M prepared -f transfer.sql`"))
    }
}
