import Foundation
import Results

/// Writes a run directory: `run.json`, `results.csv`, `summary.md` and the SVG charts it links.
///
/// Writing is atomic: every file goes into a hidden temporary directory beside the target, which
/// is renamed to the target at the end. A failure removes the temporary directory, so a run
/// directory either exists complete or not at all.
public struct ReportWriter: Sendable {
    /// The machine-readable run, input of `compare` and `gate`.
    public static let jsonFileName = "run.json"
    /// One row per variant x class x layer.
    public static let csvFileName = "results.csv"
    /// The human-readable report.
    public static let summaryFileName = "summary.md"
    /// Chart 1, mean latency stacked by layer.
    public static let layerChartFileName = "latency-layers.svg"
    /// Chart 2, latency by percentile.
    public static let cdfChartFileName = "latency-cdf.svg"
    /// Chart 3, throughput over time.
    public static let throughputChartFileName = "tps-over-time.svg"

    /// The parts of a run directory; `run.json` is always written (it is the run itself).
    public enum Output: String, Sendable, CaseIterable {
        /// `summary.md` and the SVG charts it links.
        case md
        /// `results.csv`.
        case csv
        /// `run.json`.
        case json
    }

    /// What to write besides `run.json`.
    public let outputs: Set<Output>

    /// Called with the temporary directory after every file is written and before the rename;
    /// tests throw from it to check that a failure leaves nothing behind.
    let beforeCommit: (@Sendable (URL) throws -> Void)?

    /// A writer of `outputs` (all by default; `run.json` is written regardless).
    public init(outputs: Set<Output> = Set(Output.allCases)) {
        self.outputs = outputs.union([.json])
        beforeCommit = nil
    }

    init(beforeCommit: @escaping @Sendable (URL) throws -> Void) {
        outputs = Set(Output.allCases)
        self.beforeCommit = beforeCommit
    }

    /// The files of a run directory and their contents, in writing order.
    public func files(_ run: RunResult) throws -> [(name: String, data: Data)] {
        var files = [(Self.jsonFileName, try run.jsonData())]
        if outputs.contains(.csv) {
            files.append((Self.csvFileName, Data(ResultsCSV.render(run).utf8)))
        }
        if outputs.contains(.md) {
            let charts = ChartLinks(
                layers: Self.layerChartFileName, cdf: Self.cdfChartFileName,
                throughput: Self.throughputChartFileName)
            files.append((Self.layerChartFileName, Data(LayerBreakdownChart.render(run).utf8)))
            files.append((Self.cdfChartFileName, Data(LatencyCDFChart.render(run).utf8)))
            files.append((Self.throughputChartFileName, Data(ThroughputChart.render(run).utf8)))
            files.append((Self.summaryFileName, Data(SummaryMarkdown.render(run, charts: charts).utf8)))
        }
        return files
    }

    /// Writes the run directory `directory` (for example `reports/<spec>/<run-id>`), creating its
    /// parents. Returns the files written.
    ///
    /// - Throws: ``ReportError/destinationExists(path:)`` when `directory` exists (as a directory
    ///   or anything else), ``ReportError/cannotWrite(path:reason:)`` when a file or directory
    ///   cannot be created. Nothing is left behind either way.
    @discardableResult
    public func write(_ run: RunResult, to directory: URL) throws -> [URL] {
        let fileManager = FileManager.default
        let target = directory.standardizedFileURL
        let parent = target.deletingLastPathComponent()
        if fileManager.fileExists(atPath: target.path) {
            throw ReportError.destinationExists(path: target.path)
        }
        let contents = try files(run)
        do {
            try fileManager.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotWrite(path: parent.path, reason: RunResult.reason(error))
        }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temporary = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(suffix)")
        do {
            try fileManager.createDirectory(at: temporary, withIntermediateDirectories: false)
        } catch {
            throw ReportError.cannotWrite(path: temporary.path, reason: RunResult.reason(error))
        }
        var committed = false
        defer {
            if !committed { try? fileManager.removeItem(at: temporary) }
        }
        for (name, data) in contents {
            let file = temporary.appendingPathComponent(name)
            do {
                try data.write(to: file)
            } catch {
                throw ReportError.cannotWrite(
                    path: target.appendingPathComponent(name).path, reason: RunResult.reason(error))
            }
        }
        try beforeCommit?(temporary)
        if fileManager.fileExists(atPath: target.path) {
            throw ReportError.destinationExists(path: target.path)
        }
        do {
            try fileManager.moveItem(at: temporary, to: target)
        } catch {
            throw ReportError.cannotWrite(path: target.path, reason: RunResult.reason(error))
        }
        committed = true
        return contents.map { target.appendingPathComponent($0.name) }
    }

    /// Writes the run directory at a path.
    @discardableResult
    public func write(_ run: RunResult, toPath path: String) throws -> [URL] {
        try write(run, to: URL(fileURLWithPath: path))
    }

    /// The conventional run directory of a run: `<reports>/<spec>/<run-id>`.
    public static func runDirectory(for run: RunResult, under reports: URL) -> URL {
        reports.appendingPathComponent(run.specName).appendingPathComponent(run.runID)
    }
}

/// The file names the summary links its charts under.
struct ChartLinks {
    var layers: String
    var cdf: String
    var throughput: String
}
