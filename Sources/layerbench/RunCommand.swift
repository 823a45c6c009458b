import ArgumentParser
import Engine
import Foundation
import Reporting
import Workload

/// `layerbench run SPEC`: builds the engine the spec names, loads accounts, runs every variant
/// of the optimisation matrix with a live progress line, checks conservation and durability,
/// and writes `reports/<spec>/<run-id>/`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a workload spec and write its report.")

    @Argument(help: "The workload spec (YAML).")
    var spec: String

    @Option(name: .customLong("set"), help: "Override a key of the spec (key=value, dotted paths), as YCSB's -p.")
    var overrides: [String] = []

    @Option(help: "Run shard i of n of the client population (e.g. 1/2), to merge later with `layerbench merge`.")
    var shard: String = "1/1"

    @Option(help: "Directory reports go under (default: the spec's report.directory).")
    var output: String?

    @Option(help: "Directory for the engine's data (default: a fresh temporary directory).")
    var dataDirectory: String?

    @Flag(help: "No live progress line.")
    var quiet = false

    func run() async throws {
        let workload: WorkloadSpec
        do {
            workload = try WorkloadSpec.load(path: spec, overrides: overrides)
        } catch {
            Output.error(error.description)
            throw ExitCode(2)
        }
        guard let parsedShard = Self.parseShard(shard) else {
            Output.error("--shard \(shard): error: expected i/n with 1 <= i <= n, e.g. 1/2")
            throw ExitCode(2)
        }
        let runID = RunResult.makeRunID(suffix: UInt16.random(in: 0...UInt16.max))
        let data = dataDirectory ?? (NSTemporaryDirectory() + "layerbench-\(runID)")
        let quiet = self.quiet
        let options = DriverOptions(
            dataDirectory: data, shard: parsedShard,
            progress: { progress in if !quiet { Output.progress(Self.render(progress)) } },
            memoryGauges: {
                guard let stats = Jemalloc.stats() else { return [:] }
                return [
                    "jemalloc_allocated_bytes": Double(stats.allocated),
                    "jemalloc_resident_bytes": Double(stats.resident),
                    "jemalloc_active_bytes": Double(stats.active), "jemalloc_mapped_bytes": Double(stats.mapped),
                ]
            })
        let driver = WorkloadDriver(spec: workload, options: options)
        do { try driver.checkSupported() } catch {
            Output.error("\(spec): error: \(error)")
            throw ExitCode(2)
        }
        let variants = workload.variants
        let startedAt = RunResult.timestamp(Date())
        Output.error(
            "layerbench: running \(workload.name) (\(variants.count) variant\(variants.count == 1 ? "" : "s")), "
                + "seed \(workload.seed), run \(runID)")
        var results: [VariantResult] = []
        defer { try? FileManager.default.removeItem(atPath: data) }
        for (index, variant) in variants.enumerated() {
            let result = try await driver.run(variant: variant, index: index + 1, of: variants.count) { configuration in
                try EmbeddedBackend(configuration: configuration)
            }
            if !quiet { Output.endProgress() }
            Output.error(Self.summaryLine(result))
            results.append(result)
        }
        let run = RunResult(
            specName: workload.name, runID: runID, startedAt: startedAt, spec: workload.canonicalYAML,
            machine: MachineInfo.current(),
            versions: ["layerbench": layerBenchVersion, "swift": swiftVersion, "jemalloc": Jemalloc.version],
            shard: "\(parsedShard.index + 1)/\(parsedShard.count)", variants: results)
        let reports = URL(fileURLWithPath: output ?? workload.report.directory)
        let directory = ReportWriter.runDirectory(for: run, under: reports)
        let formats = Set(workload.report.formats.compactMap { ReportWriter.Output(rawValue: $0.rawValue) })
        _ = try ReportWriter(outputs: formats).write(run, to: directory)
        print("report: \(directory.path)/\(ReportWriter.summaryFileName)")
        let failedChecks = results.flatMap { variant in
            variant.checks.filter { !$0.passed }.map { "\(variant.name): \($0.name)" }
        }
        let errors = results.reduce(0) { $0 + $1.classes.reduce(0) { $0 + $1.failed.values.reduce(0, +) } }
        if !failedChecks.isEmpty {
            Output.error("layerbench: checks FAILED: " + failedChecks.joined(separator: ", "))
            throw ExitCode(1)
        }
        if errors > 0 && !workload.tolerateErrors {
            Output.error("layerbench: \(errors) transfers failed with errors and the spec has tolerate_errors: false")
            throw ExitCode(1)
        }
    }

    static func parseShard(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 1,
            index <= count
        else { return nil }
        return (index - 1, count)
    }

    static func render(_ progress: DriverProgress) -> String {
        let prefix = "[\(progress.variantIndex)/\(progress.variantCount) \(progress.variant)]"
        switch progress.phase {
        case .loading:
            return "\(prefix) loading accounts: \(progress.cumulativeCount)"
        case .warmup:
            return
                "\(prefix) warm-up \(String(format: "%.0f", progress.elapsedSeconds))s, \(progress.cumulativeCount) transfers"
        case .checking:
            return "\(prefix) crash, recovery and audit of \(progress.cumulativeCount) acknowledged transfers"
        case .measuring:
            guard let point = progress.point else { return prefix }
            return ProgressLine.render(
                variant: "\(progress.variantIndex)/\(progress.variantCount) \(progress.variant)", point: point)
                + " | cumulative \(Int(progress.cumulativeTPS)) tps, \(progress.cumulativeErrors) errors"
        }
    }

    static func summaryLine(_ result: VariantResult) -> String {
        let checks = result.checks.allSatisfy(\.passed) ? "checks passed" : "checks FAILED"
        return "\(result.name): \(result.committed) committed in \(String(format: "%.1f", result.durationSeconds)) s, "
            + "\(Int(result.tps)) tps, \(checks)"
    }
}
