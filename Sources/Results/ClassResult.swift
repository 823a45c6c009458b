import Histogram
import WorkloadSpec

/// The measured figures of one transfer class in one variant: counts and latency histograms.
///
/// Latencies are in microseconds. The latency histograms hold committed and rejected transfers
/// (the engine answered); failed transfers are counted by SQLSTATE in ``failed`` and their
/// end-to-end latency kept apart in ``failureLatency``.
public struct ClassResult: Sendable, Equatable {
    /// The class measured.
    public var transferClass: TransferClass
    /// Transfers that committed.
    public var committed: Int
    /// Transfers refused for insufficient funds (a business outcome, not an error).
    public var rejected: Int
    /// Transfers that failed after all retries, by the SQLSTATE of the last error.
    public var failed: [String: Int]
    /// Attempts that were retried.
    public var retries: Int
    /// Retried attempts by SQLSTATE.
    public var retriedErrors: [String: Int]
    /// Latency of successes per layer; a missing layer reads as an empty histogram.
    public var latency: [MetricLayer: Histogram<UInt64>]
    /// End-to-end latency of failed transfers.
    public var failureLatency: Histogram<UInt64>
    /// Where the committed transfers' L2 time went, per span (sums and the transfers they
    /// cover); empty for a backend that reports no breakdown and in runs recorded before it.
    public var l2Spans: L2SpanTotals

    /// A class result from its parts; missing layers are stored as empty histograms.
    public init(
        transferClass: TransferClass,
        committed: Int = 0,
        rejected: Int = 0,
        failed: [String: Int] = [:],
        retries: Int = 0,
        retriedErrors: [String: Int] = [:],
        latency: [MetricLayer: Histogram<UInt64>] = [:],
        failureLatency: Histogram<UInt64>? = nil,
        l2Spans: L2SpanTotals = L2SpanTotals()
    ) {
        self.transferClass = transferClass
        self.committed = committed
        self.rejected = rejected
        self.failed = failed
        self.retries = retries
        self.retriedErrors = retriedErrors
        var layers = latency
        for layer in MetricLayer.allCases where layers[layer] == nil {
            layers[layer] = .latency()
        }
        self.latency = layers
        self.failureLatency = failureLatency ?? .latency()
        self.l2Spans = l2Spans
    }

    /// The latency histogram of one layer (empty when nothing was recorded).
    public func histogram(_ layer: MetricLayer) -> Histogram<UInt64> {
        latency[layer] ?? .latency()
    }

    /// Transfers that failed after all retries, all SQLSTATEs together.
    public var errors: Int { failed.values.reduce(0, +) }

    /// Every transfer issued: committed, rejected and failed.
    public var count: Int { committed + rejected + errors }

    /// Committed transfers per second over a measured window of `durationSeconds`.
    public func tps(durationSeconds: Double) -> Double {
        durationSeconds > 0 ? Double(committed) / durationSeconds : 0
    }

    /// The latency in microseconds at `percentile` (0...100) of one layer's successes.
    public func percentileMicros(_ percentile: Double, layer: MetricLayer = .endToEnd) -> UInt64 {
        histogram(layer).valueAtPercentile(percentile)
    }

    /// The mean latency in microseconds of one layer's successes.
    public func meanMicros(layer: MetricLayer = .endToEnd) -> Double {
        histogram(layer).mean
    }

    /// Retried attempts per 1,000 transfers issued.
    public var retriesPer1000: Double { count > 0 ? Double(retries) * 1000 / Double(count) : 0 }

    /// Failed transfers per 1,000 transfers issued.
    public var errorsPer1000: Double { count > 0 ? Double(errors) * 1000 / Double(count) : 0 }

    /// Adds another result of the same class: histograms merged, counts summed.
    public mutating func add(_ other: ClassResult) {
        committed += other.committed
        rejected += other.rejected
        retries += other.retries
        failed.merge(other.failed, uniquingKeysWith: +)
        retriedErrors.merge(other.retriedErrors, uniquingKeysWith: +)
        for (layer, histogram) in other.latency {
            latency[layer, default: .latency()].add(histogram)
        }
        failureLatency.add(other.failureLatency)
        l2Spans.add(other.l2Spans)
    }

    /// Merges results per class (any number of each, from any number of clients or shards),
    /// returned in class order.
    public static func merged(_ results: [ClassResult]) -> [ClassResult] {
        var byClass: [TransferClass: ClassResult] = [:]
        for result in results {
            if byClass[result.transferClass] == nil {
                byClass[result.transferClass] = result
            } else {
                byClass[result.transferClass]?.add(result)
            }
        }
        return byClass.values.sorted { $0.transferClass < $1.transferClass }
    }

    /// All classes of a variant merged into one figure (its ``transferClass`` is the first one's).
    public static func total(_ results: [ClassResult]) -> ClassResult? {
        guard var total = results.first else { return nil }
        for result in results.dropFirst() {
            var other = result
            other.transferClass = total.transferClass
            total.add(other)
        }
        return total
    }
}

extension ClassResult: Codable {
    enum CodingKeys: String, CodingKey {
        case transferClass = "class"
        case committed, rejected, failed, retries, retriedErrors, latency, failureLatency
        case l2Spans = "l2Breakdown"
    }

    private struct LayerKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes the `run.json` form; histograms are in their compact bucket form (`l2Breakdown` is
    /// optional: older runs read as having no breakdown).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        transferClass = try container.decode(TransferClass.self, forKey: .transferClass)
        committed = try container.decode(Int.self, forKey: .committed)
        rejected = try container.decode(Int.self, forKey: .rejected)
        failed = try container.decode([String: Int].self, forKey: .failed)
        retries = try container.decode(Int.self, forKey: .retries)
        retriedErrors = try container.decode([String: Int].self, forKey: .retriedErrors)
        let layers = try container.nestedContainer(keyedBy: LayerKey.self, forKey: .latency)
        var latency: [MetricLayer: Histogram<UInt64>] = [:]
        for key in layers.allKeys {
            guard let layer = MetricLayer(rawValue: key.stringValue) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: layers,
                    debugDescription: "unknown layer '\(key.stringValue)', expected one of "
                        + MetricLayer.allCases.map(\.rawValue).joined(separator: ", "))
            }
            latency[layer] = try layers.decodeHistogram(forKey: key)
        }
        for layer in MetricLayer.allCases where latency[layer] == nil {
            latency[layer] = .latency()
        }
        self.latency = latency
        failureLatency = try container.decodeHistogram(forKey: .failureLatency)
        // Runs recorded before the breakdown have none.
        l2Spans = try container.decodeIfPresent(L2SpanTotals.self, forKey: .l2Spans) ?? L2SpanTotals()
    }

    /// Encodes the `run.json` form; histograms in their compact bucket form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(transferClass, forKey: .transferClass)
        try container.encode(committed, forKey: .committed)
        try container.encode(rejected, forKey: .rejected)
        try container.encode(failed, forKey: .failed)
        try container.encode(retries, forKey: .retries)
        try container.encode(retriedErrors, forKey: .retriedErrors)
        var layers = container.nestedContainer(keyedBy: LayerKey.self, forKey: .latency)
        for layer in MetricLayer.allCases {
            try layers.encodeHistogram(histogram(layer), forKey: LayerKey(stringValue: layer.rawValue))
        }
        try container.encodeHistogram(failureLatency, forKey: .failureLatency)
        try container.encode(l2Spans, forKey: .l2Spans)
    }
}
