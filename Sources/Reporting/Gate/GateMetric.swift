/// A metric the gate watches, its direction and its allowance.
///
/// Names select metrics of ``RunMetrics``: `<variant>/<class>/<metric>`, `<variant>/<metric>`
/// (the variant's classes merged), or `<metric>` alone (every variant, classes merged). A `*`
/// in the variant or class position matches every variant or class, so `*/cross_region/p99_ms`
/// gates the cross-region p99 of every variant. A region of a run of several regions is a scope
/// too: `*/region:us-east/p99_ms`. When several names select the same metric, the most specific
/// one applies.
public struct GateMetric: Sendable, Equatable, Codable {
    /// The name as written, for example `batch-on/all/fsyncs_per_transfer`.
    public var name: String
    /// Which way the metric improves.
    public var direction: GateDirection
    /// How much worse it may get.
    public var threshold: GateThreshold

    /// The variant selected, or `*`.
    public var variant: String { selector.variant }
    /// The scope selected (a class, `all`, or `*`).
    public var scope: String { selector.scope }
    /// The metric name.
    public var metric: String { selector.metric }

    var selector: (variant: String, scope: String, metric: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: return ("*", RunMetrics.allScope, parts[0])
        case 2: return (parts[0], RunMetrics.allScope, parts[1])
        default: return (parts[0], parts[1], parts[2...].joined(separator: "/"))
        }
    }

    /// How specific the selection is: the number of positions that are not wildcards.
    var specificity: Int {
        (variant == "*" ? 0 : 2) + (scope == "*" ? 0 : 1)
    }

    /// A gated metric; the direction is inferred from the metric name when not given.
    ///
    /// - Throws: ``GateError/invalidMetricName(_:)`` unless the name has one to three non-empty
    ///   `/`-separated parts, and ``GateError/invalidThreshold(metric:reason:)`` for negative or
    ///   non-finite allowances.
    public init(_ name: String, direction: GateDirection? = nil, threshold: GateThreshold) throws {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }), parts.last != "*" else {
            throw GateError.invalidMetricName(name)
        }
        for (label, value) in [("relative", threshold.relative), ("absolute", threshold.absolute)] {
            if let value, !(value.isFinite && value >= 0) {
                throw GateError.invalidThreshold(
                    metric: name, reason: "\(label) allowance \(value) must be >= 0")
            }
        }
        self.name = name
        self.direction = direction ?? GateDirection.inferred(for: name)
        self.threshold = threshold
    }

    /// Equality of name, direction and threshold.
    public static func == (lhs: GateMetric, rhs: GateMetric) -> Bool {
        lhs.name == rhs.name && lhs.direction == rhs.direction && lhs.threshold == rhs.threshold
    }
}

/// Why a gate configuration is invalid.
public enum GateError: Error, Equatable, CustomStringConvertible {
    /// A metric name is not `<metric>`, `<variant>/<metric>` or `<variant>/<class>/<metric>`.
    case invalidMetricName(String)
    /// An allowance is negative or not a number.
    case invalidThreshold(metric: String, reason: String)

    /// What is wrong and with which metric.
    public var description: String {
        switch self {
        case .invalidMetricName(let name):
            "gate metric '\(name)' is not <metric>, <variant>/<metric> or <variant>/<class>/<metric>"
        case .invalidThreshold(let metric, let reason):
            "gate metric '\(metric)': \(reason)"
        }
    }
}
