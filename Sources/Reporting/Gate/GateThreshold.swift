/// How much worse a metric may get before the gate calls it a regression.
///
/// The semantics of package-benchmark: a metric regresses when it got worse by more than every
/// allowance given, so with both given it must exceed both (the relative one guards large
/// values, the absolute one small values near zero); with one given, that one decides.
public struct GateThreshold: Sendable, Equatable, Codable {
    /// Allowed worsening in percent of the baseline.
    public var relative: Double?
    /// Allowed worsening in the metric's own unit.
    public var absolute: Double?

    /// A threshold; when neither allowance is given any worsening is a regression.
    public init(relative: Double? = nil, absolute: Double? = nil) {
        self.relative = relative
        self.absolute = absolute
    }

    /// Whether a worsening of `worse` (in the metric's unit, > 0) from `baseline` exceeds the allowances.
    public func isExceeded(worse: Double, baseline: Double) -> Bool {
        guard worse > 0 else { return false }
        let relativeWorse = baseline != 0 ? worse / abs(baseline) * 100 : Double.infinity
        let exceedsRelative = relative.map { relativeWorse > $0 } ?? true
        let exceedsAbsolute = absolute.map { worse > $0 } ?? true
        return exceedsRelative && exceedsAbsolute
    }

    /// The allowance as text: `10 % and 0.5`, `10 %`, `0.5`, `none`.
    public var description: String {
        switch (relative, absolute) {
        case (let r?, let a?): "\(Ticks.label(r)) % and \(Ticks.label(a))"
        case (let r?, nil): "\(Ticks.label(r)) %"
        case (nil, let a?): Ticks.label(a)
        case (nil, nil): "none"
        }
    }
}

/// Which way a metric improves.
public enum GateDirection: String, Sendable, Equatable, Codable {
    /// Latency, errors, retries, costs per transfer.
    case lowerIsBetter = "lower"
    /// Throughput, commits per fsync.
    case higherIsBetter = "higher"

    /// The direction a metric name implies: throughput (`tps`, `committed`) and ratios of work
    /// done per resource (`commits_per_fsync`, `*_per_fsync`, `*_per_round`, `*_per_batch`) are
    /// better higher; everything else (latency, errors, retries, `*_per_transfer`) lower.
    public static func inferred(for metric: String) -> GateDirection {
        let name = metric.split(separator: "/").last.map(String.init) ?? metric
        if name == "tps" || name == "committed" || name.hasPrefix("tps_")
            || name.hasPrefix("commits_per_")
            || name.hasSuffix("_per_fsync") || name.hasSuffix("_per_round")
            || name.hasSuffix("_per_batch")
        {
            return .higherIsBetter
        }
        return .lowerIsBetter
    }
}
