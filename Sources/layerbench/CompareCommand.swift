import ArgumentParser
import Foundation
import Reporting
import Workload

/// `layerbench compare RUN_A RUN_B`: a markdown table of deltas per metric.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Diff two runs (run directories or run.json files).")

    @Argument(help: "The reference run.")
    var a: String

    @Argument(help: "The run compared with it.")
    var b: String

    func run() throws {
        let first = try loadRun(a)
        let second = try loadRun(b)
        print(Comparison.compare(a: first, b: second).markdown)
    }
}

/// `layerbench merge RUN...`: merges runs of one spec taken by several driver processes
/// (`run --shard i/n`): histograms added, TPS summed. Writes a new report.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge shard runs of the same spec into one report.")

    @Argument(help: "Run directories or run.json files, one per shard.")
    var runs: [String]

    @Option(help: "Directory the merged report goes under.")
    var output: String = "reports"

    func run() throws {
        let loaded = try runs.map(loadRun)
        let merged: RunResult
        do { merged = try RunResult.merge(loaded) } catch {
            Output.error("merge: error: \(error)")
            throw ExitCode(2)
        }
        let directory = ReportWriter.runDirectory(for: merged, under: URL(fileURLWithPath: output))
        _ = try ReportWriter().write(merged, to: directory)
        print("report: \(directory.path)/\(ReportWriter.summaryFileName)")
    }
}

/// `layerbench gate RUN --baseline FILE`: compares a run to a committed baseline with the
/// spec's per-metric thresholds (or the robust defaults); exit 0 within, 2 on a regression.
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate", abstract: "Fail (exit 2) when a run regressed against a baseline.")

    @Argument(help: "The run to judge (run directory or run.json).")
    var current: String

    @Option(help: "The baseline run (a committed run.json).")
    var baseline: String

    func run() throws {
        let candidate = try loadRun(current)
        let reference = try loadRun(baseline)
        let gate: Gate
        do {
            let spec = try WorkloadSpec.decode(yaml: candidate.spec, file: "\(current) (embedded spec)")
            gate = spec.gate.isEmpty ? Gate() : try Gate(spec: spec.gate)
        } catch {
            Output.error("gate: error: \(error)")
            throw ExitCode(2)
        }
        let report = gate.evaluate(run: candidate, baseline: reference)
        print(report.markdown)
        if !report.passed { throw ExitCode(report.exitCode) }
    }
}

/// Loads a run from a run directory or a `run.json` path; a bad file exits 2 with its path.
func loadRun(_ path: String) throws -> RunResult {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let file = exists && isDirectory.boolValue ? path + "/" + ReportWriter.jsonFileName : path
    do {
        return try RunResult.load(from: URL(fileURLWithPath: file))
    } catch {
        Output.error("\(file): error: \(error)")
        throw ExitCode(2)
    }
}
