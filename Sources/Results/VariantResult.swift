import Histogram
import WorkloadSpec

/// Everything measured for one variant of a spec (one point of its optimisation matrix).
public struct VariantResult: Sendable, Equatable {
    /// The variant's name, unique within a run, for example `locality-on`.
    public var name: String
    /// The parameters that make this variant, for example `locality=false`, `clients=16`.
    public var parameters: [String: String]
    /// Length of the measured window in seconds, warm-up excluded.
    public var durationSeconds: Double
    /// Per-class results, in class order.
    public var classes: [ClassResult]
    /// Per-region results (by the home region of the client that issued each transfer), in the
    /// spec's region order; they partition ``classes``. Empty in runs recorded before regions
    /// were reported.
    public var regions: [RegionResult]
    /// One point per second of the measured window.
    public var timeSeries: [TimeSeriesPoint]
    /// Engine counters over the measured window, free-form: `fsyncs`, `commits_per_fsync`,
    /// `wal_bytes`, `messages`, `pool_waits`, `jemalloc_allocated_bytes`, ...
    ///
    /// Names containing `_per_` or ending in `_ratio` are ratios; every other counter is a total
    /// (this decides how shards merge, see ``RunResult/merge(_:)``).
    public var counters: [String: Double]
    /// Engine counters over the measured window per node (`us-east/node-0`), so per replica and,
    /// summed, per region (Raft messages, entries, fsyncs, elections, ...). ``counters`` holds
    /// their totals. Empty when the backend reports no per-node counters.
    public var nodeCounters: [String: [String: Double]]
    /// How late open-loop sends started against their schedule, in microseconds (open loop only).
    public var scheduleLag: Histogram<UInt64>?
    /// The correctness checks run after the variant.
    public var checks: [CheckResult]
    /// `pgbench` on the same server with an equivalent script, when the spec asks for the
    /// side-by-side comparison (`compare_pgbench: true`, backend postgres).
    public var pgbench: PgbenchResult?

    /// A variant result from its parts.
    public init(
        name: String,
        parameters: [String: String] = [:],
        durationSeconds: Double,
        classes: [ClassResult],
        regions: [RegionResult] = [],
        timeSeries: [TimeSeriesPoint] = [],
        counters: [String: Double] = [:],
        nodeCounters: [String: [String: Double]] = [:],
        scheduleLag: Histogram<UInt64>? = nil,
        checks: [CheckResult] = []
    ) {
        self.name = name
        self.parameters = parameters
        self.durationSeconds = durationSeconds
        self.classes = classes
        self.regions = regions
        self.timeSeries = timeSeries
        self.counters = counters
        self.nodeCounters = nodeCounters
        self.scheduleLag = scheduleLag
        self.checks = checks
    }

    /// The result of one region, if the variant reports it.
    public func result(forRegion region: String) -> RegionResult? {
        regions.first { $0.region == region }
    }

    /// The result of one class, if the variant ran any transfer of it.
    public func result(for transferClass: TransferClass) -> ClassResult? {
        classes.first { $0.transferClass == transferClass }
    }

    /// Committed transfers over all classes.
    public var committed: Int { classes.reduce(0) { $0 + $1.committed } }

    /// Transfers issued over all classes (committed, rejected and failed).
    public var transfers: Int { classes.reduce(0) { $0 + $1.count } }

    /// Committed transfers per second over all classes.
    public var tps: Double { durationSeconds > 0 ? Double(committed) / durationSeconds : 0 }

    /// Whether every check passed (true when there were none).
    public var checksPassed: Bool { checks.allSatisfy(\.passed) }

    /// Whether a counter name denotes a ratio (averaged across shards) rather than a total (summed).
    public static func isRatioCounter(_ name: String) -> Bool {
        name.contains("_per_") || name.hasSuffix("_ratio")
    }

    /// Whether a counter is a level read at the end of the run (a gauge: memory, sizes, high-water
    /// marks, maxima, percentiles) rather than a count of events, so that dividing it by the
    /// transfers means nothing.
    public static func isGauge(_ name: String) -> Bool {
        name.hasPrefix("jemalloc_") || name.hasPrefix("pool_size") || name.hasSuffix("_high_water")
            || name.hasSuffix("_max") || name.contains("_max_") || name.hasPrefix("heap_versions")
            || name.hasPrefix("commit_log_entries") || name.contains("_p99") || name.contains("_p50")
    }
}

extension VariantResult: Codable {
    enum CodingKeys: String, CodingKey {
        case name, parameters, durationSeconds, classes, regions, timeSeries, counters, nodeCounters, scheduleLag
        case checks, pgbench
    }

    /// Decodes the `run.json` form (`regions` and `nodeCounters` are optional: runs recorded
    /// before them read as having none).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        parameters = try container.decode([String: String].self, forKey: .parameters)
        durationSeconds = try container.decode(Double.self, forKey: .durationSeconds)
        classes = try container.decode([ClassResult].self, forKey: .classes)
        regions = try container.decodeIfPresent([RegionResult].self, forKey: .regions) ?? []
        timeSeries = try container.decode([TimeSeriesPoint].self, forKey: .timeSeries)
        counters = try container.decode([String: Double].self, forKey: .counters)
        nodeCounters = try container.decodeIfPresent([String: [String: Double]].self, forKey: .nodeCounters) ?? [:]
        scheduleLag = try container.decodeHistogramIfPresent(forKey: .scheduleLag)
        checks = try container.decode([CheckResult].self, forKey: .checks)
        pgbench = try container.decodeIfPresent(PgbenchResult.self, forKey: .pgbench)
    }

    /// Encodes the `run.json` form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(durationSeconds, forKey: .durationSeconds)
        try container.encode(classes, forKey: .classes)
        try container.encode(regions, forKey: .regions)
        try container.encode(timeSeries, forKey: .timeSeries)
        try container.encode(counters, forKey: .counters)
        try container.encode(nodeCounters, forKey: .nodeCounters)
        if let scheduleLag {
            try container.encodeHistogram(scheduleLag, forKey: .scheduleLag)
        }
        try container.encode(checks, forKey: .checks)
        try container.encodeIfPresent(pgbench, forKey: .pgbench)
    }
}
