import Histogram

/// The compact JSON form of a latency histogram in `run.json`.
///
/// `Histogram`'s own `Codable` writes its whole counts array, zeros included: about 15,000
/// numbers for a histogram that reaches ten seconds, one line each in pretty JSON. This form
/// keeps only the non-empty buckets, as one string of `value:count` pairs separated by spaces
/// (each value is the highest value equivalent to its bucket; one line even in pretty JSON),
/// which decodes into a histogram equal (`==`) to the original. The raw smallest and largest recorded values are kept as well: percentiles are
/// clamped to them, so without them a decoded histogram would answer slightly differently at the
/// extremes. The summary fields (`mean`, `p50`, ...) are written for people and tools like `jq`
/// and ignored when decoding.
struct HistogramCoding: Codable {
    var significantDigits: Int8
    var lowestDiscernibleValue: UInt64
    var totalCount: UInt64
    var buckets: String
    var minRecorded: UInt64?
    var maxRecorded: UInt64?
    var mean: Double?
    var p50: UInt64?
    var p99: UInt64?
    var p999: UInt64?
    var max: UInt64?

    init(_ histogram: Histogram<UInt64>) {
        significantDigits = histogram.numberOfSignificantValueDigits.rawValue
        lowestDiscernibleValue = histogram.lowestDiscernibleValue
        totalCount = histogram.totalCount
        var buckets = ""
        for bucket in histogram.recordedValues() {
            if !buckets.isEmpty { buckets += " " }
            buckets += "\(bucket.value):\(bucket.count)"
        }
        self.buckets = buckets
        if histogram.totalCount > 0 {
            minRecorded = histogram.min
            maxRecorded = histogram.maxRecorded
            mean = histogram.mean
            p50 = histogram.valueAtPercentile(50)
            p99 = histogram.valueAtPercentile(99)
            p999 = histogram.valueAtPercentile(99.9)
            max = histogram.max
        }
    }

    /// Rebuilds the histogram; throws `DecodingError.dataCorrupted` when the data contradicts itself.
    func histogram(codingPath: [any CodingKey]) throws -> Histogram<UInt64> {
        func corrupted(_ why: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: why))
        }
        guard let digits = SignificantDigits(rawValue: significantDigits) else {
            throw corrupted("significantDigits \(significantDigits) is not between 0 and 5")
        }
        guard lowestDiscernibleValue >= 1, lowestDiscernibleValue <= UInt64.max / 4 else {
            throw corrupted("lowestDiscernibleValue \(lowestDiscernibleValue) is out of range")
        }
        var pairs: [(value: UInt64, count: UInt64)] = []
        for pair in buckets.split(separator: " ") {
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let value = UInt64(parts[0]), let count = UInt64(parts[1]), count > 0
            else {
                throw corrupted("bucket '\(pair)' is not value:count")
            }
            pairs.append((value, count))
        }
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: lowestDiscernibleValue,
            highestTrackableValue: lowestDiscernibleValue * 2,
            numberOfSignificantValueDigits: digits
        )
        histogram.autoResize = true
        for (value, count) in pairs {
            guard value <= UInt64.max / 2 else { throw corrupted("value \(value) cannot be recorded") }
            // Record the bucket's count at the raw extreme it holds (same bucket, same counts), so
            // that the decoded histogram's min and max, which clamp percentiles, are the original's.
            var remaining = count
            var at = value
            if let low = minRecorded, low > 0, histogram.valuesAreEquivalent(low, value) {
                at = low
                if let high = maxRecorded, high != low, histogram.valuesAreEquivalent(high, value),
                    remaining > 1
                {
                    guard histogram.record(low, count: 1) else {
                        throw corrupted("value \(low) cannot be recorded")
                    }
                    remaining -= 1
                    at = high
                }
            } else if let high = maxRecorded, histogram.valuesAreEquivalent(high, value) {
                at = high
            }
            guard histogram.record(at, count: remaining) else {
                throw corrupted("value \(at) cannot be recorded")
            }
        }
        guard histogram.totalCount == totalCount else {
            throw corrupted("counts add up to \(histogram.totalCount), not totalCount \(totalCount)")
        }
        return histogram
    }
}

extension KeyedDecodingContainer {
    /// Decodes a histogram written by ``HistogramCoding``.
    func decodeHistogram(forKey key: Key) throws -> Histogram<UInt64> {
        try decode(HistogramCoding.self, forKey: key).histogram(codingPath: codingPath + [key])
    }

    /// Decodes an optional histogram written by ``HistogramCoding``.
    func decodeHistogramIfPresent(forKey key: Key) throws -> Histogram<UInt64>? {
        try decodeIfPresent(HistogramCoding.self, forKey: key)?.histogram(
            codingPath: codingPath + [key])
    }
}

extension KeyedEncodingContainer {
    /// Encodes a histogram in the compact ``HistogramCoding`` form.
    mutating func encodeHistogram(_ histogram: Histogram<UInt64>, forKey key: Key) throws {
        try encode(HistogramCoding(histogram), forKey: key)
    }
}

extension Histogram<UInt64> {
    /// An empty, auto-resizing histogram with the layout every LayerBench histogram shares
    /// (three significant digits, lowest discernible value 1 µs), so any two of them can be merged.
    static func latency() -> Histogram<UInt64> {
        Histogram(numberOfSignificantValueDigits: .three)
    }
}
