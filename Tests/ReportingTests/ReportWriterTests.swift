import Foundation
import Results
import Testing

@testable import Reporting

@Suite("ReportWriter")
struct ReportWriterTests {
    struct InjectedFailure: Error {}

    func scratch() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("lb-report-\(UUID().uuidString)")
    }

    func entries(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    @Test("writes run.json, results.csv, summary.md and the charts it links")
    func writesEverything() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = SyntheticRun.standard
        let target = ReportWriter.runDirectory(for: run, under: root)
        let files = try ReportWriter().write(run, to: target)
        #expect(files.count == 6)
        #expect(
            entries(target) == [
                "latency-cdf.svg", "latency-layers.svg", "results.csv", "run.json", "summary.md",
                "tps-over-time.svg",
            ])
        let summary = try String(
            contentsOf: target.appendingPathComponent("summary.md"), encoding: .utf8)
        for chart in [
            ReportWriter.layerChartFileName, ReportWriter.cdfChartFileName,
            ReportWriter.throughputChartFileName,
        ] {
            #expect(summary.contains("](\(chart))"))
        }
        #expect(entries(target.deletingLastPathComponent()) == [run.runID])
    }

    @Test("an existing target is refused and nothing is left behind")
    func existingTarget() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let target = root.appendingPathComponent("run")
        try Data("not a directory".utf8).write(to: target)
        #expect(throws: ReportError.destinationExists(path: target.standardizedFileURL.path)) {
            try ReportWriter().write(SyntheticRun.standard, to: target)
        }
        #expect(entries(root) == ["run"])
    }

    @Test("a parent that cannot hold directories fails the write and leaves nothing")
    func unwritableParent() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let blocker = root.appendingPathComponent("reports")
        try Data().write(to: blocker)
        let target = blocker.appendingPathComponent("demo").appendingPathComponent("run")
        #expect(throws: ReportError.self) {
            try ReportWriter().write(SyntheticRun.standard, to: target)
        }
        #expect(entries(root) == ["reports"])
    }

    @Test("a failure after the files are written leaves no partial directory")
    func failureBeforeRename() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let target = root.appendingPathComponent("run")
        let writer = ReportWriter(beforeCommit: { temporary in
            #expect(
                FileManager.default.fileExists(atPath: temporary.appendingPathComponent("run.json").path))
            throw InjectedFailure()
        })
        #expect(throws: InjectedFailure.self) { try writer.write(SyntheticRun.standard, to: target) }
        #expect(entries(root).isEmpty)
    }

    @Test("a subset of outputs still writes run.json")
    func outputSubset() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let target = root.appendingPathComponent("run")
        try ReportWriter(outputs: [.csv]).write(SyntheticRun.standard, to: target)
        #expect(entries(target) == ["results.csv", "run.json"])
    }
}
