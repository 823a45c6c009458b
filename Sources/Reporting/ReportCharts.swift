import Results

/// The SVG charts of a run, for callers that want them without a whole run directory.
public enum ReportCharts {
    /// Mean end-to-end latency per variant stacked by layer (L2, L1, L0), one panel per class.
    public static func layerBreakdown(_ run: RunResult) -> String { LayerBreakdownChart.render(run) }

    /// End-to-end latency by percentile, one line per variant and class.
    public static func latencyDistribution(_ run: RunResult) -> String { LatencyCDFChart.render(run) }

    /// Committed transfers per second over time, one line per variant.
    public static func throughput(_ run: RunResult) -> String { ThroughputChart.render(run) }
}
