import Histogram
import Results
import WorkloadSpec

/// The named numbers of a run that `compare` and `gate` work on, keyed by variant, scope and
/// metric name.
///
/// Scope is a class (`single_region`, ...), `all` (every class of the variant merged) or, in a
/// run of several regions, `region:<name>` (every class of the transfers issued from that
/// region merged).
/// Class metrics exist in every scope: `tps`, `committed`, `rejected`, `errors`, `retries`,
/// `errors_per_1000`, `retries_per_1000`, `mean_ms`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`,
/// `max_ms` (end-to-end latency of successes). Counter metrics exist in scope `all` only: every
/// engine counter under its own name and, for counters that are totals, `<counter>_per_transfer`
/// (the counter divided by the variant's committed transfers).
public struct RunMetrics: Sendable {
    /// The class metric names, in report order.
    public static let classMetricNames = [
        "tps", "committed", "rejected", "errors", "retries", "errors_per_1000", "retries_per_1000",
        "mean_ms",
        "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
    ]

    /// The scope name of a variant's merged classes.
    public static let allScope = "all"

    /// The prefix of a region's scope, `region:us-east`.
    public static let regionScopePrefix = "region:"

    /// Metrics per variant, then scope, then name.
    public private(set) var values: [String: [String: [String: Double]]] = [:]
    /// Counter metric names per variant, sorted.
    public private(set) var counterNames: [String: [String]] = [:]
    /// Scopes per variant: `all` first, then the classes in class order, then the regions (when
    /// there are several) in spec order.
    public private(set) var scopes: [String: [String]] = [:]
    /// Variant names in run order.
    public let variantNames: [String]

    /// The metrics of a run.
    public init(_ run: RunResult) {
        variantNames = run.variants.map(\.name)
        for variant in run.variants {
            var byScope: [String: [String: Double]] = [:]
            var scopeNames = [Self.allScope]
            if let total = ClassResult.total(variant.classes) {
                byScope[Self.allScope] = Self.classMetrics(total, durationSeconds: variant.durationSeconds)
            } else {
                byScope[Self.allScope] = [:]
            }
            for result in variant.classes {
                scopeNames.append(result.transferClass.rawValue)
                byScope[result.transferClass.rawValue] = Self.classMetrics(
                    result, durationSeconds: variant.durationSeconds)
            }
            // One region is the whole variant: its scope would repeat `all`.
            if variant.regions.count > 1 {
                for region in variant.regions {
                    guard let total = region.total else { continue }
                    let scope = Self.regionScopePrefix + region.region
                    scopeNames.append(scope)
                    byScope[scope] = Self.classMetrics(total, durationSeconds: variant.durationSeconds)
                }
            }
            var counters: [String] = []
            let committed = Double(variant.committed)
            for (name, value) in variant.counters {
                byScope[Self.allScope]?[name] = value
                counters.append(name)
                // A gauge (memory, pool size, a maximum) per transfer means nothing: only event
                // counts are divided.
                if !VariantResult.isRatioCounter(name), !VariantResult.isGauge(name), committed > 0 {
                    let perTransfer = name + "_per_transfer"
                    if variant.counters[perTransfer] == nil {
                        byScope[Self.allScope]?[perTransfer] = value / committed
                        counters.append(perTransfer)
                    }
                }
            }
            values[variant.name] = byScope
            counterNames[variant.name] = counters.sorted()
            scopes[variant.name] = scopeNames
        }
    }

    /// One metric, or `nil` when the run did not measure it.
    public func value(variant: String, scope: String = RunMetrics.allScope, metric: String) -> Double? {
        values[variant]?[scope]?[metric]
    }

    /// The class metrics of one class result (or of a variant's merged classes).
    public static func classMetrics(_ result: ClassResult, durationSeconds: Double) -> [String:
        Double]
    {
        let latency = result.histogram(.endToEnd)
        let hasLatency = latency.totalCount > 0
        func ms(_ percentile: Double) -> Double? {
            hasLatency ? Double(latency.valueAtPercentile(percentile)) / 1000 : nil
        }
        var metrics: [String: Double] = [
            "tps": result.tps(durationSeconds: durationSeconds),
            "committed": Double(result.committed),
            "rejected": Double(result.rejected),
            "errors": Double(result.errors),
            "retries": Double(result.retries),
            "errors_per_1000": result.errorsPer1000,
            "retries_per_1000": result.retriesPer1000,
        ]
        if hasLatency {
            metrics["mean_ms"] = latency.mean / 1000
            metrics["p50_ms"] = ms(50)
            metrics["p90_ms"] = ms(90)
            metrics["p99_ms"] = ms(99)
            metrics["p999_ms"] = ms(99.9)
            metrics["max_ms"] = Double(latency.max) / 1000
        }
        return metrics
    }
}
