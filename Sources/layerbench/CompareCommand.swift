import ArgumentParser
import Foundation
import Reporting
import Results
import WorkloadSpec

/// `layerbench compare RUN_A RUN_B`: the headline metrics with a verdict, then the rest.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Diff two runs (run directories or run.json files).",
        discussion: ExitStatus.help())

    @Argument(help: "The reference run.")
    var a: String

    @Argument(help: "The run compared with it.")
    var b: String

    func run() throws {
        let first = try loadRun(a)
        let second = try loadRun(b)
        let differences = RunDifferences(a: first, b: second)
        if !differences.isEmpty {
            print("> WARNING: the runs differ in \(differences.summary); the comparison may not mean what it seems.\n")
        }
        if let note = differences.cpuNote { print("> NOTE: \(note)\n") }
        print(Comparison.compare(a: first, b: second).markdown)
    }
}

/// `layerbench merge RUN...`: merges runs of one spec taken by several driver processes
/// (`run --shard i/n`): histograms added, TPS summed. Writes a new report with its own run id.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge shard runs of the same spec into one report.",
        discussion: ExitStatus.help(["      (1 also for an incomplete set of shards without --allow-incomplete)"]))

    @Argument(help: "Run directories or run.json files, one per shard.")
    var runs: [String]

    @Option(help: "Directory the merged report goes under.")
    var output: String = "reports"

    @Flag(help: "Merge even when some of the n shards are missing (the report says which).")
    var allowIncomplete = false

    func run() throws {
        let loaded = try runs.map(loadRun)
        var merged: RunResult
        do { merged = try RunResult.merge(loaded) } catch {
            Output.error("merge: error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        // The shards' medians merged, the fidelity follows from the merged run.
        merged.latencyFidelity = LatencyFidelity.compute(merged)
        if let count = loaded.first.flatMap({ RunResult.parseShard($0.shard)?.count }), loaded.count < count {
            let present = loaded.map(\.shard).sorted().joined(separator: ", ")
            if !allowIncomplete {
                Output.error(
                    "merge: error: only \(loaded.count) of \(count) shards given (\(present)); a merge of part of "
                        + "the clients is not the run (pass --allow-incomplete to merge them anyway)")
                throw ExitCode(ExitStatus.failure)
            }
            Output.error("merge: warning: only \(loaded.count) of \(count) shards merged (\(present))")
        }
        let directory = ReportWriter.runDirectory(for: merged, under: URL(fileURLWithPath: output))
        do { _ = try ReportWriter().write(merged, to: directory) } catch {
            Output.error("merge: error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        Output.error(
            "merge: \(loaded.count) run(s) merged into \(merged.runID): counts and TPS are sums over the shards' "
                + "independent engines")
        print("report: \(directory.path)/\(ReportWriter.summaryFileName)")
    }
}

/// `layerbench gate RUN --baseline FILE`: compares a run to a committed baseline with the
/// baseline's per-metric thresholds (or a thresholds file's, or the robust defaults).
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate", abstract: "Fail (exit 2) when a run regressed against a baseline.",
        discussion: ExitStatus.help([
            "      (1 also for a missing or corrupt baseline, or runs of different specs",
            "      or machine classes without --allow-mismatch)",
            "2   a metric regressed or went missing, or a check of the run failed",
        ]))

    @Argument(help: "The run to judge (run directory or run.json).")
    var current: String

    @Option(help: "The baseline run (a committed run.json).")
    var baseline: String

    @Option(
        help: ArgumentHelp(
            "A YAML file with a gate: section to take the thresholds from (default: the baseline's spec).",
            discussion: "The thresholds never come from the run being judged."))
    var thresholds: String?

    @Flag(help: "Gate runs of different specs, formats or machine classes anyway, with a warning.")
    var allowMismatch = false

    func run() throws {
        let reference = try loadRun(baseline)
        let candidate = try loadRun(current)
        let differences = RunDifferences(a: reference, b: candidate)
        if !differences.isEmpty {
            if !allowMismatch {
                Output.error(
                    "gate: error: the run and the baseline differ in \(differences.summary); they did not measure the "
                        + "same thing (re-record the baseline, or pass --allow-mismatch)")
                throw ExitCode(ExitStatus.failure)
            }
            print("> WARNING: the run and the baseline differ in \(differences.summary); gated anyway.\n")
        }
        if let note = differences.cpuNote { print("> NOTE: \(note)\n") }
        let gate: Gate
        do {
            let source: [WorkloadSpec.GateThreshold]
            if let thresholds {
                source = try WorkloadSpec.loadGate(path: thresholds)
            } else {
                source = try WorkloadSpec.decode(yaml: reference.spec, file: "\(baseline) (the baseline's spec)").gate
            }
            gate = source.isEmpty ? Gate() : try Gate(spec: source)
        } catch {
            Output.error("gate: error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        let report = gate.evaluate(run: candidate, baseline: reference)
        print(report.markdown)
        if !report.passed { throw ExitCode(report.exitCode) }
    }
}

/// What makes two runs measurements of different things: their specs (by key), their run.json
/// format and LayerBench version, and their machine class (cores and memory). The CPU model is
/// only noted: machines of one class are handed out with different CPU models, and the gated metrics
/// are counts per transfer (fsyncs, WAL bytes, versions, retries), not speeds.
struct RunDifferences {
    var keys: [String] = []
    /// A note when the CPU models differ (not a refusal).
    var cpuNote: String?

    init(a: RunResult, b: RunResult) {
        keys = WorkloadSpec.differingKeys(a.spec, b.spec).map { "spec.\($0)" }
        if a.formatVersion != b.formatVersion { keys.append("formatVersion") }
        if a.versions["layerbench"] != b.versions["layerbench"] { keys.append("versions.layerbench") }
        if a.machine.cores != b.machine.cores { keys.append("machine.cores") }
        if a.machine.memoryBytes >> 30 != b.machine.memoryBytes >> 30 { keys.append("machine.memoryBytes") }
        if a.machine.cpuModel != b.machine.cpuModel {
            cpuNote = "CPU models differ (\(a.machine.cpuModel) vs \(b.machine.cpuModel)): compare speeds with care"
        }
    }

    var isEmpty: Bool { keys.isEmpty }

    var summary: String { keys.joined(separator: ", ") }
}

/// Loads a run from a run directory or a `run.json` path; a missing or bad file exits 1 with its path.
func loadRun(_ path: String) throws -> RunResult {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let file = exists && isDirectory.boolValue ? path + "/" + ReportWriter.jsonFileName : path
    do {
        return try RunResult.load(from: URL(fileURLWithPath: file))
    } catch {
        Output.error("\(file): error: \(error)")
        throw ExitCode(ExitStatus.failure)
    }
}
