import Foundation
import Histogram
import Results
import WorkloadSpec

/// `results.csv`: one row per variant x region x class x layer, for spreadsheets and plotting
/// scripts.
///
/// Columns:
/// `variant,region,class,layer,count,tps,mean_us,p50_us,p90_us,p99_us,p999_us,max_us,errors,retries`.
/// Region `all` rows hold every transfer of the class; then each region of the run (by the home
/// region of the client that issued the transfer) has its own rows, which add up to the `all`
/// ones. `count` is the number of latency samples of that layer (committed and rejected
/// transfers, plus the backfilled samples of an open-loop run's correction in the `e2e` row);
/// `tps`, `errors` and `retries` belong to the class (in that region) and repeat on its four
/// layer rows.
public enum ResultsCSV {
    /// The header line's columns.
    public static let columns = [
        "variant", "region", "class", "layer", "count", "tps", "mean_us", "p50_us", "p90_us", "p99_us",
        "p999_us", "max_us", "errors", "retries",
    ]

    /// The columns of files written before the `region` column (every row then is region `all`);
    /// ``parse(_:)`` still reads them.
    public static let columnsWithoutRegion = columns.filter { $0 != "region" }

    /// The region of rows that cover every region.
    public static let allRegions = "all"

    /// One row of `results.csv`.
    public struct Row: Sendable, Equatable {
        /// The variant's name.
        public var variant: String
        /// The region whose clients issued the transfers, or `all` (``ResultsCSV/allRegions``).
        public var region: String
        /// The transfer class.
        public var transferClass: TransferClass
        /// The layer the latency columns describe.
        public var layer: MetricLayer
        /// Latency samples in the layer's histogram.
        public var count: UInt64
        /// Committed transfers per second of the class (three decimals).
        public var tps: Double
        /// Mean latency in microseconds (one decimal).
        public var meanMicros: Double
        /// Median latency in microseconds.
        public var p50Micros: UInt64
        /// 90th percentile latency in microseconds.
        public var p90Micros: UInt64
        /// 99th percentile latency in microseconds.
        public var p99Micros: UInt64
        /// 99.9th percentile latency in microseconds.
        public var p999Micros: UInt64
        /// Highest latency in microseconds (the top of its histogram bucket).
        public var maxMicros: UInt64
        /// Transfers of the class that failed after all retries.
        public var errors: Int
        /// Retried attempts of the class.
        public var retries: Int

        /// The row of one layer of a class result, of every region (`all`) or of one.
        public init(
            variant: VariantResult, result: ClassResult, layer: MetricLayer, region: String = ResultsCSV.allRegions
        ) {
            let histogram = result.histogram(layer)
            self.variant = variant.name
            self.region = region
            transferClass = result.transferClass
            self.layer = layer
            count = histogram.totalCount
            tps = (result.tps(durationSeconds: variant.durationSeconds) * 1000).rounded() / 1000
            meanMicros = (histogram.mean * 10).rounded() / 10
            p50Micros = histogram.valueAtPercentile(50)
            p90Micros = histogram.valueAtPercentile(90)
            p99Micros = histogram.valueAtPercentile(99)
            p999Micros = histogram.valueAtPercentile(99.9)
            maxMicros = histogram.max
            errors = result.errors
            retries = result.retries
        }

        /// Parses a row; `hasRegion` is false for a file written before the `region` column.
        init(fields given: [String], line: Int, hasRegion: Bool = true) throws {
            let expected = hasRegion ? ResultsCSV.columns.count : ResultsCSV.columnsWithoutRegion.count
            guard given.count == expected else {
                throw ReportError.invalidCSV(line: line, reason: "\(given.count) fields, expected \(expected)")
            }
            // An older row is read as region `all`, so every index below is the current one.
            let fields = hasRegion ? given : [given[0], ResultsCSV.allRegions] + given[1...]
            func parse<T: LosslessStringConvertible>(_ index: Int, as type: T.Type) throws -> T {
                guard let value = T(fields[index]) else {
                    throw ReportError.invalidCSV(
                        line: line, reason: "\(ResultsCSV.columns[index]) '\(fields[index])' is not a \(T.self)"
                    )
                }
                return value
            }
            variant = fields[0]
            region = fields[1]
            guard let transferClass = TransferClass(rawValue: fields[2]) else {
                throw ReportError.invalidCSV(line: line, reason: "unknown class '\(fields[2])'")
            }
            guard let layer = MetricLayer(rawValue: fields[3]) else {
                throw ReportError.invalidCSV(line: line, reason: "unknown layer '\(fields[3])'")
            }
            self.transferClass = transferClass
            self.layer = layer
            count = try parse(4, as: UInt64.self)
            tps = try parse(5, as: Double.self)
            meanMicros = try parse(6, as: Double.self)
            p50Micros = try parse(7, as: UInt64.self)
            p90Micros = try parse(8, as: UInt64.self)
            p99Micros = try parse(9, as: UInt64.self)
            p999Micros = try parse(10, as: UInt64.self)
            maxMicros = try parse(11, as: UInt64.self)
            errors = try parse(12, as: Int.self)
            retries = try parse(13, as: Int.self)
        }

        var fields: [String] {
            [
                variant, region, transferClass.rawValue, layer.rawValue, String(count), Format.fixed(tps, 3),
                Format.fixed(meanMicros, 1), String(p50Micros), String(p90Micros), String(p99Micros),
                String(p999Micros), String(maxMicros), String(errors), String(retries),
            ]
        }
    }

    /// The rows of a run: variants in run order; in each, region `all` then the variant's regions
    /// in spec order; classes in class order; layers e2e, L2, L1, L0.
    public static func rows(_ run: RunResult) -> [Row] {
        run.variants.flatMap { variant in
            let all = variant.classes.flatMap { result in
                MetricLayer.allCases.map { Row(variant: variant, result: result, layer: $0) }
            }
            let regions = variant.regions.flatMap { region in
                region.classes.flatMap { result in
                    MetricLayer.allCases.map { Row(variant: variant, result: result, layer: $0, region: region.region) }
                }
            }
            return all + regions
        }
    }

    /// The text of `results.csv`, header included, lines ending in `\n`.
    public static func render(_ run: RunResult) -> String {
        var text = columns.joined(separator: ",") + "\n"
        for row in rows(run) {
            text += row.fields.map(quote).joined(separator: ",") + "\n"
        }
        return text
    }

    /// Parses the text of `results.csv` (RFC 4180 quoting) back into rows.
    public static func parse(_ text: String) throws -> [Row] {
        let records = try split(text)
        guard let header = records.first else {
            throw ReportError.invalidCSV(line: 1, reason: "empty file")
        }
        guard header == columns || header == columnsWithoutRegion else {
            throw ReportError.invalidCSV(
                line: 1, reason: "header is not \(columns.joined(separator: ","))")
        }
        let hasRegion = header == columns
        return try records.dropFirst().enumerated().map { offset, fields in
            try Row(fields: fields, line: offset + 2, hasRegion: hasRegion)
        }
    }

    /// Quotes a field when it holds a comma, quote or line break.
    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return field
        }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Splits CSV text into records of fields.
    static func split(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var characters = text.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? characters.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    let next = characters.next()
                    if next == "\"" {
                        field.append("\"")
                    } else {
                        quoted = false
                        pending = next
                    }
                } else {
                    if character == "\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty:
                quoted = true
            case ",":
                record.append(field)
                field = ""
            case "\n", "\r\n":
                record.append(field)
                records.append(record)
                record = []
                field = ""
                line += 1
            default:
                field.append(character)
            }
        }
        if quoted { throw ReportError.invalidCSV(line: line, reason: "unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        return records
    }
}
