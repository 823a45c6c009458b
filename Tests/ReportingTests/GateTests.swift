import Results
import Testing
import WorkloadSpec

@testable import Reporting

@Suite("Gate")
struct GateTests {
    static let baseline: RunResult = {
        var run = SyntheticRun.standard
        run.runID = "baseline"
        return run
    }()

    /// The baseline with the `fsyncs` counter of every variant scaled by `factor`.
    func run(fsyncsFactor factor: Double, checksPass: Bool = true) -> RunResult {
        var run = Self.baseline
        run.runID = "current"
        for index in run.variants.indices {
            run.variants[index].counters["fsyncs"] =
                (run.variants[index].counters["fsyncs"] ?? 0) * factor
            if !checksPass { run.variants[index].checks[0].passed = false }
        }
        return run
    }

    @Test("the same run passes the default gate and exits 0")
    func identicalPasses() {
        let report = Gate().evaluate(run: run(fsyncsFactor: 1), baseline: Self.baseline)
        #expect(report.passed)
        #expect(report.exitCode == 0)
        #expect(
            report.rows.contains { $0.metric == "batch-on/all/fsyncs_per_transfer" && $0.verdict == .ok })
        #expect(report.checks.count == 6)
    }

    @Test("the default gate watches per-transfer costs and ratios, never raw TPS or latency")
    func defaultsAreRobust() {
        let names = Gate.defaultMetrics.map(\.name)
        #expect(
            names == [
                "fsyncs_per_transfer", "commits_per_fsync", "wal_bytes_per_transfer", "retries_per_1000",
                "errors_per_1000",
            ])
        #expect(!names.contains { $0.contains("tps") || $0.contains("_ms") })
        var slower = Self.baseline
        slower.variants[0].durationSeconds *= 3  // a third of the TPS: noise the default gate ignores
        #expect(Gate().evaluate(run: slower, baseline: Self.baseline).passed)
    }

    @Test("worse by more than both allowances fails with exit code 2; within either passes")
    func bothAllowances() throws {
        let metric = try GateMetric(
            "fsyncs_per_transfer", threshold: .init(relative: 10, absolute: 0.05))
        let gate = Gate(metrics: [metric])
        // base: 2100 fsyncs / ~2090 committed ≈ 1.0 per transfer.
        let within = gate.evaluate(run: run(fsyncsFactor: 1.04), baseline: Self.baseline)
        #expect(within.passed)
        let regressed = gate.evaluate(run: run(fsyncsFactor: 1.5), baseline: Self.baseline)
        #expect(!regressed.passed)
        #expect(regressed.exitCode == 2)
        #expect(regressed.failures.map(\.metric).contains("base/all/fsyncs_per_transfer"))
        #expect(regressed.markdown.contains("REGRESSED"))
        // 20 % worse but under the absolute allowance of 0.5 per transfer: not a regression.
        let wideAbsolute = Gate(metrics: [
            try GateMetric("fsyncs_per_transfer", threshold: .init(relative: 10, absolute: 0.5))
        ])
        #expect(wideAbsolute.evaluate(run: run(fsyncsFactor: 1.2), baseline: Self.baseline).passed)
    }

    @Test("with only a relative allowance, that one decides")
    func onlyRelative() throws {
        let gate = Gate(metrics: [
            try GateMetric("base/fsyncs_per_transfer", threshold: .init(relative: 10))
        ])
        #expect(gate.evaluate(run: run(fsyncsFactor: 1.09), baseline: Self.baseline).passed)
        let report = gate.evaluate(run: run(fsyncsFactor: 1.11), baseline: Self.baseline)
        #expect(!report.passed)
        #expect(report.rows.count == 1)
    }

    @Test("an improvement passes, in either direction of betterness")
    func improvementPasses() throws {
        let gate = Gate(metrics: [
            try GateMetric("fsyncs_per_transfer", threshold: .init(relative: 1)),
            try GateMetric("*/*/tps", threshold: .init(relative: 1)),
        ])
        var faster = run(fsyncsFactor: 0.5)
        for index in faster.variants.indices { faster.variants[index].durationSeconds /= 2 }
        let report = gate.evaluate(run: faster, baseline: Self.baseline)
        #expect(report.passed)
        #expect(
            report.rows.filter { $0.metric.hasSuffix("/tps") }.allSatisfy { $0.verdict == .improved })
        #expect(report.rows.first { $0.metric == "base/all/fsyncs_per_transfer" }?.verdict == .improved)
        let slower = gate.evaluate(run: Self.baseline, baseline: faster)
        #expect(!slower.passed)
    }

    @Test("a failed check fails the gate even when every metric is fine")
    func failedCheck() {
        let report = Gate().evaluate(
            run: run(fsyncsFactor: 1, checksPass: false), baseline: Self.baseline)
        #expect(!report.passed)
        #expect(report.exitCode == 2)
        #expect(report.failures.isEmpty)
        #expect(report.failedChecks.count == 3)
        #expect(report.markdown.contains("FAIL"))
    }

    @Test("a baseline variant missing from the run fails; a specific name overrides a wildcard")
    func missingAndSpecificity() throws {
        var fewer = run(fsyncsFactor: 1.3)
        fewer.variants.removeLast()
        let gate = Gate(metrics: [
            try GateMetric("fsyncs_per_transfer", threshold: .init(relative: 10)),
            try GateMetric("base/all/fsyncs_per_transfer", threshold: .init(relative: 50)),
        ])
        let report = gate.evaluate(run: fewer, baseline: Self.baseline)
        #expect(report.rows.first { $0.metric == "locality-on" }?.verdict == .missing)
        #expect(
            report.rows.first { $0.metric == "base/all/fsyncs_per_transfer" }?.threshold?.relative == 50)
        #expect(report.rows.first { $0.metric == "base/all/fsyncs_per_transfer" }?.verdict == .ok)
        #expect(
            report.rows.first { $0.metric == "batch-on/all/fsyncs_per_transfer" }?.verdict == .regressed)
        #expect(report.rows.filter { $0.metric == "base/all/fsyncs_per_transfer" }.count == 1)
    }

    @Test("bad metric names and allowances are rejected; directions are inferred")
    func validation() throws {
        #expect(throws: GateError.invalidMetricName("a/b/c/d")) {
            try GateMetric("a/b/c/d", threshold: .init(relative: 1))
        }
        #expect(throws: GateError.self) { try GateMetric("", threshold: .init()) }
        #expect(throws: GateError.self) { try GateMetric("p99_ms", threshold: .init(relative: -1)) }
        #expect(try GateMetric("commits_per_fsync", threshold: .init()).direction == .higherIsBetter)
        #expect(try GateMetric("x/cross_region/tps", threshold: .init()).direction == .higherIsBetter)
        #expect(try GateMetric("p99_ms", threshold: .init()).direction == .lowerIsBetter)
        #expect(GateThreshold(relative: 5, absolute: 2).isExceeded(worse: 3, baseline: 10))
        #expect(!GateThreshold(relative: 50, absolute: 2).isExceeded(worse: 3, baseline: 10))
        #expect(GateThreshold(absolute: 0.5).isExceeded(worse: 1, baseline: 0))
        #expect(!GateThreshold(relative: 5).isExceeded(worse: -3, baseline: 10))
    }

    @Test("a spec's gate section becomes the gate's metrics; an empty one gives the defaults")
    func fromSpec() throws {
        let gate = try Gate(spec: [
            WorkloadSpec.GateThreshold(metric: "*/cross_region/p99_ms", relativePercent: 20, absolute: 5)
        ])
        #expect(gate.metrics.map(\.name) == ["*/cross_region/p99_ms"])
        #expect(gate.metrics.first?.threshold == GateThreshold(relative: 20, absolute: 5))
        #expect(try Gate(spec: []).metrics == Gate.defaultMetrics)
        #expect(throws: GateError.self) {
            try Gate(spec: [WorkloadSpec.GateThreshold(metric: "a/b/c/d", relativePercent: 1)])
        }
    }
}

@Suite("Gate allowances both ways")
struct GateAllowanceTests {
    @Test("a change within the allowance is ok in either direction, not improved")
    func tinyChangeIsNotImproved() throws {
        var better = GateTests.baseline
        better.runID = "current"
        for index in better.variants.indices {
            better.variants[index].counters["fsyncs"] = (better.variants[index].counters["fsyncs"] ?? 0) * 0.99996
        }
        let report = Gate().evaluate(run: better, baseline: GateTests.baseline)
        let row = try #require(report.rows.first { $0.metric == "batch-on/all/fsyncs_per_transfer" })
        #expect(row.verdict == .ok)
        var muchBetter = better
        for index in muchBetter.variants.indices {
            muchBetter.variants[index].counters["fsyncs"] =
                (GateTests.baseline.variants[index].counters["fsyncs"] ?? 0) * 0.5
        }
        let improved = Gate().evaluate(run: muchBetter, baseline: GateTests.baseline)
        #expect(improved.rows.first { $0.metric == "batch-on/all/fsyncs_per_transfer" }?.verdict == .improved)
    }
}
