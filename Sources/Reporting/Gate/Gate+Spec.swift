import WorkloadSpec

extension Gate {
    /// The gate a spec's `gate:` section describes (the defaults when it lists no metric).
    ///
    /// - Throws: ``GateError`` for a metric name or allowance the gate cannot use.
    public init(spec thresholds: [WorkloadSpec.GateThreshold], requireChecks: Bool = true) throws {
        let metrics = try thresholds.map { threshold in
            try GateMetric(
                threshold.metric,
                threshold: GateThreshold(relative: threshold.relativePercent, absolute: threshold.absolute))
        }
        self.init(metrics: metrics, requireChecks: requireChecks)
    }
}
