import Results
import Testing

@testable import Reporting

@Suite("Comparison")
struct ComparisonTests {
    @Test("lists per variant x class deltas and every counter, matching variants by name")
    func deltas() throws {
        var a = SyntheticRun.standard
        a.runID = "run-a"
        var b = SyntheticRun.make(seed: 2, runID: "run-b")
        b.variants[1].counters["fsyncs"] = 350
        b.variants[1].counters["pool_waits"] = 12
        b.variants.removeLast()
        let comparison = Comparison.compare(a: a, b: b)
        #expect(comparison.onlyInA == ["locality-on"])
        #expect(comparison.onlyInB.isEmpty)
        let fsyncs = try #require(
            comparison.rows.first { $0.variant == "batch-on" && $0.metric == "fsyncs" })
        #expect(fsyncs.a == 700)
        #expect(fsyncs.b == 350)
        #expect(fsyncs.change == -350)
        #expect(fsyncs.changePercent == -50)
        let poolWaits = try #require(
            comparison.rows.first { $0.variant == "batch-on" && $0.metric == "pool_waits" })
        #expect(poolWaits.a == nil)
        #expect(poolWaits.b == 12)
        for scope in ["all", "single_region", "cross_region", "global"] {
            let metrics = comparison.rows.filter { $0.variant == "base" && $0.scope == scope }.map(
                \.metric)
            #expect(metrics == Comparison.classMetrics, "scope \(scope)")
        }
        let markdown = comparison.markdown
        #expect(markdown.contains("## base"))
        #expect(markdown.contains("## batch-on"))
        #expect(markdown.contains("| counters | fsyncs | 700 | 350 | -350 | -50.0 % |"))
        #expect(markdown.contains("Only in A: locality-on"))
    }
}
