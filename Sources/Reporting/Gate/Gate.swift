import Results

/// Compares a run with a committed baseline run and decides whether it regressed.
///
/// The caller exits with ``GateReport/exitCode``: 0 when the gate passed, 2 on a regression
/// (package-benchmark's convention).
public struct Gate: Sendable, Equatable {
    /// The metrics watched.
    public var metrics: [GateMetric]
    /// Whether every check of the current run must pass (invariants are never noisy).
    public var requireChecks: Bool

    /// The metrics gated when the spec names none.
    ///
    /// Only robust metrics: per-transfer costs and within-run ratios that depend on what the
    /// engine does, not on how fast the machine happened to be — `fsyncs_per_transfer`,
    /// `commits_per_fsync`, `wal_bytes_per_transfer`, `retries_per_1000`, `errors_per_1000`,
    /// each for every variant with its classes merged — plus the invariants (every check must
    /// pass). Raw TPS and latency are deliberately left out: on shared CI machines they move by
    /// tens of percent from run to run, so a gate on them would fail at random or need
    /// allowances so wide that it would catch nothing. Gate them explicitly on a quiet machine.
    public static let defaultMetrics: [GateMetric] = [
        Self.metric("fsyncs_per_transfer", .lowerIsBetter, relative: 10, absolute: 0.01),
        Self.metric("commits_per_fsync", .higherIsBetter, relative: 10, absolute: 0.1),
        Self.metric("wal_bytes_per_transfer", .lowerIsBetter, relative: 10, absolute: 16),
        Self.metric("retries_per_1000", .lowerIsBetter, relative: 25, absolute: 5),
        Self.metric("errors_per_1000", .lowerIsBetter, relative: 25, absolute: 1),
    ]

    private static func metric(
        _ name: String, _ direction: GateDirection, relative: Double, absolute: Double
    ) -> GateMetric {
        // The names and allowances above are valid by construction; a failure here is a typo in this file.
        guard
            let metric = try? GateMetric(
                name, direction: direction, threshold: .init(relative: relative, absolute: absolute))
        else { preconditionFailure("invalid default gate metric \(name)") }
        return metric
    }

    /// A gate over `metrics` (the defaults when empty).
    public init(metrics: [GateMetric] = [], requireChecks: Bool = true) {
        self.metrics = metrics.isEmpty ? Self.defaultMetrics : metrics
        self.requireChecks = requireChecks
    }

    /// Evaluates `run` against `baseline`.
    ///
    /// A variant of the baseline missing from the run fails the gate (a gate that silently gates
    /// nothing is worse than a red one); a new variant is listed and passes. A metric measured in
    /// the baseline but not in the run fails as `missing`; one only in the run passes as `new`.
    public func evaluate(run: RunResult, baseline: RunResult) -> GateReport {
        let current = RunMetrics(run)
        let base = RunMetrics(baseline)
        var rows: [GateReport.Row] = []
        let currentNames = Set(current.variantNames)
        let baseNames = Set(base.variantNames)
        for name in base.variantNames where !currentNames.contains(name) {
            rows.append(
                .init(
                    metric: name, direction: nil, baseline: nil, current: nil, threshold: nil,
                    verdict: .missing))
        }
        for name in current.variantNames where !baseNames.contains(name) {
            rows.append(
                .init(
                    metric: name, direction: nil, baseline: nil, current: nil, threshold: nil, verdict: .new))
        }
        let common = base.variantNames.filter(currentNames.contains)

        var seen: Set<String> = []
        let ordered = metrics.enumerated().sorted {
            ($0.element.specificity, -$0.offset) > ($1.element.specificity, -$1.offset)
        }
        var evaluated: [(order: Int, row: GateReport.Row)] = []
        for (order, metric) in ordered {
            let variants = metric.variant == "*" ? common : [metric.variant]
            let explicit = metric.variant != "*" && metric.scope != "*"
            for variant in variants {
                if !common.contains(variant) {
                    if explicit, !baseNames.contains(variant) || !currentNames.contains(variant) {
                        evaluated.append(
                            (
                                order,
                                .init(
                                    metric: metric.name, direction: metric.direction, baseline: nil, current: nil,
                                    threshold: metric.threshold,
                                    verdict: baseNames.contains(variant) ? .missing : .notMeasured)
                            ))
                    }
                    continue
                }
                var scopes = [metric.scope]
                if metric.scope == "*" {
                    scopes = base.scopes[variant] ?? []
                    for scope in current.scopes[variant] ?? [] where !scopes.contains(scope) {
                        scopes.append(scope)
                    }
                }
                for scope in scopes {
                    let key = "\(variant)/\(scope)/\(metric.metric)"
                    guard !seen.contains(key) else { continue }
                    seen.insert(key)
                    let before = base.value(variant: variant, scope: scope, metric: metric.metric)
                    let after = current.value(variant: variant, scope: scope, metric: metric.metric)
                    let verdict: GateReport.Verdict
                    switch (before, after) {
                    case (nil, nil):
                        guard explicit else { continue }
                        verdict = .notMeasured
                    case (nil, _?):
                        verdict = .new
                    case (_?, nil):
                        verdict = .missing
                    case (let before?, let after?):
                        let worse = metric.direction == .lowerIsBetter ? after - before : before - after
                        if metric.threshold.isExceeded(worse: worse, baseline: before) {
                            verdict = .regressed
                        } else {
                            // The same allowance both ways: a change within it is noise either way.
                            verdict = metric.threshold.isExceeded(worse: -worse, baseline: before) ? .improved : .ok
                        }
                    }
                    evaluated.append(
                        (
                            order,
                            .init(
                                metric: key, direction: metric.direction, baseline: before, current: after,
                                threshold: metric.threshold, verdict: verdict)
                        ))
                }
            }
        }
        rows += evaluated.sorted { $0.order < $1.order }.map(\.row)

        let checks: [GateReport.CheckRow] =
            requireChecks
            ? run.variants.flatMap { variant in
                variant.checks.map {
                    GateReport.CheckRow(
                        variant: variant.name, name: $0.name, passed: $0.passed, detail: $0.detail)
                }
            } : []
        return GateReport(baselineRunID: baseline.runID, runID: run.runID, rows: rows, checks: checks)
    }
}
