/// The outcome of a ``Gate``: one row per gated metric and per check, and the verdict.
public struct GateReport: Sendable, Equatable {
    /// What happened to one metric.
    public enum Verdict: String, Sendable, Equatable {
        /// Within the allowance (possibly slightly worse).
        case ok
        /// Better than the baseline by more than every allowance (the same allowance as a regression).
        case improved
        /// Worse by more than every allowance given: fails the gate.
        case regressed = "REGRESSED"
        /// Measured in the baseline but not in the run (or a baseline variant is gone): fails the gate.
        case missing = "MISSING"
        /// Only in the run: listed, passes.
        case new
        /// Named explicitly but measured in neither run: listed, passes.
        case notMeasured = "not measured"

        /// Whether the verdict fails the gate.
        public var fails: Bool { self == .regressed || self == .missing }
    }

    /// One gated metric.
    public struct Row: Sendable, Equatable {
        /// `<variant>/<scope>/<metric>`, or a variant's name for a variant that appeared or vanished.
        public var metric: String
        /// Which way the metric improves.
        public var direction: GateDirection?
        /// The baseline's value.
        public var baseline: Double?
        /// The run's value.
        public var current: Double?
        /// The allowance.
        public var threshold: GateThreshold?
        /// The verdict.
        public var verdict: Verdict

        /// `current - baseline`.
        public var change: Double? {
            guard let baseline, let current else { return nil }
            return current - baseline
        }
    }

    /// One correctness check of the run.
    public struct CheckRow: Sendable, Equatable {
        /// The variant checked.
        public var variant: String
        /// The check's name.
        public var name: String
        /// Whether it passed.
        public var passed: Bool
        /// What was measured.
        public var detail: String
    }

    /// The baseline's run id.
    public var baselineRunID: String
    /// The gated run's id.
    public var runID: String
    /// The gated metrics.
    public var rows: [Row]
    /// The run's checks (empty when the gate does not require them).
    public var checks: [CheckRow]

    /// Metrics that failed the gate.
    public var failures: [Row] { rows.filter(\.verdict.fails) }

    /// Checks that failed.
    public var failedChecks: [CheckRow] { checks.filter { !$0.passed } }

    /// Whether the run passed: no regressed or missing metric, no failed check.
    public var passed: Bool { failures.isEmpty && failedChecks.isEmpty }

    /// The process exit code for the `gate` command: 0 on pass, 2 on a regression.
    public var exitCode: Int32 { passed ? 0 : 2 }

    /// The report as markdown: the verdict, a table of metrics and one of checks.
    public var markdown: String {
        var out = ["# Gate: \(passed ? "PASSED" : "FAILED")", ""]
        out.append("- Baseline: `\(baselineRunID)`, run: `\(runID)`")
        if !passed {
            out.append(
                "- \(failures.count) metric(s) regressed or missing, \(failedChecks.count) check(s) failed")
        }
        out.append("")
        let metricRows = rows.map { row -> [String] in
            let change: String
            if let delta = row.change, let baseline = row.baseline {
                let percent = Delta.percent(from: baseline, to: row.current ?? baseline)
                change =
                    (delta >= 0 ? "+" : "") + Format.number(delta)
                    + (percent.map { " (\(Format.signedPercent($0)))" } ?? "")
            } else {
                change = "–"
            }
            return [
                row.metric, row.direction.map { $0 == .lowerIsBetter ? "lower" : "higher" } ?? "",
                row.baseline.map(Format.number) ?? "–", row.current.map(Format.number) ?? "–", change,
                row.threshold?.description ?? "", row.verdict.rawValue,
            ]
        }
        if !metricRows.isEmpty {
            out += SummaryMarkdown.table(
                ["metric", "better", "baseline", "current", "change", "allowed worse by", "verdict"],
                metricRows,
                rightAligned: [2, 3, 4])
        }
        if !checks.isEmpty {
            out += SummaryMarkdown.table(
                ["variant", "check", "result", "detail"],
                checks.map { [$0.variant, $0.name, $0.passed ? "PASS" : "FAIL", $0.detail] })
        }
        return out.joined(separator: "\n")
    }
}
