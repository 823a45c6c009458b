import ArgumentParser
import Dispatch
import Engine
import Foundation
import Reporting
import Results
import Workload
import WorkloadSpec

#if canImport(Glibc)
    import Glibc
#endif

/// `layerbench run SPEC`: builds the engine the spec names, loads accounts, runs every variant
/// of the optimisation matrix with a live progress line, checks conservation and durability,
/// and writes `reports/<spec>/<run-id>/`.
///
/// Before any work it checks the spec, the shard, the machine's memory, the report directory
/// (writable, with room) and the data directory (a fresh `layerbench-<run-id>` directory it
/// creates and alone removes). SIGINT or SIGTERM stops the measured phase and writes the report
/// of the variants that finished, marked partial; a second one exits at once.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a workload spec and write its report.",
        discussion: ExitStatus.help([
            "      (1 also when a variant measured nothing, or transfers failed",
            "      and the spec has tolerate_errors: false)",
            "130 interrupted by SIGINT, 143 by SIGTERM (finished variants are reported)",
        ]))

    @Argument(help: "The workload spec (YAML).")
    var spec: String

    @Option(name: .customLong("set"), help: "Override a key of the spec (key=value, dotted paths), as YCSB's -p.")
    var overrides: [String] = []

    @Option(
        name: .customLong("unset"),
        help: "Remove a key of the spec (dotted path), e.g. --unset clients --set rate=500. Applied before --set.")
    var unsets: [String] = []

    @Option(help: "Run shard i of n of the client population (e.g. 1/2), to merge later with `layerbench merge`.")
    var shard: String = "1/1"

    @Option(help: "Directory reports go under (default: the spec's report.directory).")
    var output: String?

    @Option(
        help: ArgumentHelp(
            "Directory under which the engine's data goes (default: the temporary directory).",
            discussion:
                "The run creates a fresh layerbench-<run-id> directory inside it, marked as its own, and removes "
                + "only that directory. Directories of dead runs found there are removed at start."))
    var dataDirectory: String?

    @Flag(help: "No live progress line.")
    var quiet = false

    func run() async throws {
        guard let parsedShard = Self.parseShard(shard) else {
            Output.error("--shard \(shard): error: expected i/n with 1 <= i <= n, e.g. 1/2")
            throw ExitCode(ExitStatus.failure)
        }
        let workload: WorkloadSpec
        do {
            workload = try WorkloadSpec.load(path: spec, overrides: overrides, unsets: unsets)
        } catch {
            Output.error(error.description)
            throw ExitCode(ExitStatus.failure)
        }
        let interrupt = RunInterrupt()
        let runID = RunResult.makeRunID(suffix: UInt16.random(in: 0...UInt16.max))
        let reports = URL(fileURLWithPath: output ?? workload.report.directory)
        let specReports = reports.appendingPathComponent(workload.name)
        let dataRoot = dataDirectory ?? NSTemporaryDirectory()
        let quiet = self.quiet
        let makeOptions = { (data: String) in
            DriverOptions(
                dataDirectory: data, shard: parsedShard,
                progress: { progress in if !quiet { Output.progress(Self.render(progress)) } },
                memoryGauges: Self.jemallocGauges, interrupt: interrupt)
        }
        do { try WorkloadDriver(spec: workload, options: makeOptions(dataRoot)).checkSupported() } catch {
            Output.error("\(spec): error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        // The output is checked before any work: a report that cannot be written is found now,
        // not after the run.
        do { try OutputCheck.check(directory: specReports.path) } catch {
            Output.error("layerbench: error: reports: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        for stale in DataDirectory.removeStale(under: dataRoot) {
            Output.error("layerbench: removed the data directory of a run that is gone: \(stale)")
        }
        let data: DataDirectory
        do { data = try DataDirectory.create(root: dataRoot, runID: runID) } catch {
            Output.error("layerbench: error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        defer { data.remove() }
        let signals = Self.handleSignals(interrupt)
        defer { for source in signals { source.cancel() } }

        let driver = WorkloadDriver(spec: workload, options: makeOptions(data.path))
        let variants = workload.variants
        var postgres: PostgresRun?
        if workload.backend == .postgres {
            do {
                postgres = try await PostgresRun.start(spec: workload, runID: runID)
            } catch {
                Output.error("layerbench: error: postgres: \(error)")
                throw ExitCode(ExitStatus.failure)
            }
            Output.error("layerbench: \(postgres?.summary ?? "")")
        }
        let postgresRun = postgres
        let startedAt = RunResult.timestamp(Date())
        Output.error(
            "layerbench: running \(workload.name) (\(variants.count) variant\(variants.count == 1 ? "" : "s")), "
                + "seed \(workload.seed), run \(runID)")
        var results: [VariantResult] = []
        for (index, variant) in variants.enumerated() {
            do {
                var result = try await driver.run(variant: variant, index: index + 1, of: variants.count) {
                    configuration in
                    if let postgresRun { return try postgresRun.makeBackend(configuration) }
                    return try EmbeddedBackend(configuration: configuration)
                }
                if let postgresRun {
                    try await postgresRun.finish(
                        &result, variant: variant,
                        isolation: driver.engineConfiguration(for: variant, directory: data.path).isolation)
                }
                if !quiet { Output.endProgress() }
                Output.error(Self.summaryLine(result))
                results.append(result)
            } catch is RunInterrupted {
                if !quiet { Output.endProgress() }
                break
            } catch {
                if let postgresRun { try? await postgresRun.stop() }
                throw error
            }
            if interrupt.isRequested { break }
        }
        if let postgresRun {
            do { try await postgresRun.stop() } catch {
                Output.error("layerbench: error: stopping the postgres cluster: \(error)")
            }
        }
        let signalName = Self.signalName(interrupt.signalNumber)
        var run = RunResult(
            specName: workload.name, runID: runID, startedAt: startedAt, spec: workload.canonicalYAML,
            machine: MachineInfo.current(),
            versions: [
                "layerbench": layerBenchVersion, "swift": swiftVersion, "jemalloc": Jemalloc.version,
                "jemalloc_options": Jemalloc.decay,
            ],
            shard: "\(parsedShard.index + 1)/\(parsedShard.count)", variants: results)
        // Each class's p50 next to its critical-path minimum, into run.json as well as summary.md.
        run.latencyFidelity = LatencyFidelity.compute(run)
        if interrupt.isRequested {
            run.partial =
                "interrupted by \(signalName) after \(results.count) of \(variants.count) variant(s) finished"
        }
        let directory = ReportWriter.runDirectory(for: run, under: reports)
        let formats = Set(workload.report.formats.compactMap { ReportWriter.Output(rawValue: $0.rawValue) })
        if interrupt.isRequested {
            guard !results.isEmpty else {
                Output.error("layerbench: interrupted by \(signalName) before any variant finished; no report written")
                throw ExitCode(128 + interrupt.signalNumber)
            }
        }
        let written: [URL]
        do {
            written = try ReportWriter(outputs: formats).write(run, to: directory)
        } catch {
            Output.error("layerbench: error: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        let shown =
            written.first { $0.lastPathComponent == ReportWriter.summaryFileName }
            ?? written.first { $0.lastPathComponent == ReportWriter.jsonFileName } ?? directory
        print("report: \(shown.path)")
        if interrupt.isRequested {
            Output.error(
                "layerbench: interrupted by \(signalName): partial report of \(results.count) finished variant(s) "
                    + "written to \(directory.path)")
            throw ExitCode(128 + interrupt.signalNumber)
        }
        try Self.verdict(results, tolerateErrors: workload.tolerateErrors)
    }

    /// Exits 1 when a check failed, a variant measured nothing, or errors are not tolerated.
    static func verdict(_ results: [VariantResult], tolerateErrors: Bool) throws {
        let failedChecks = results.flatMap { variant in
            variant.checks.filter { !$0.passed }.map { "\(variant.name): \($0.name)" }
        }
        let empty = results.filter { variant in variant.classes.reduce(0) { $0 + $1.count } == 0 }.map(\.name)
        let errors = results.reduce(0) { $0 + $1.classes.reduce(0) { $0 + $1.failed.values.reduce(0, +) } }
        var failed = false
        if !empty.isEmpty {
            Output.error(
                "layerbench: error: variant(s) \(empty.joined(separator: ", ")) measured no transfer; the results mean "
                    + "nothing (check duration, rate, think_time and --shard)")
            failed = true
        }
        if !failedChecks.isEmpty {
            Output.error("layerbench: checks FAILED: " + failedChecks.joined(separator: ", "))
            failed = true
        }
        if errors > 0 && !tolerateErrors {
            Output.error("layerbench: \(errors) transfers failed with errors and the spec has tolerate_errors: false")
            failed = true
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }

    /// jemalloc's statistics as gauges (recorded each second and at the end of each variant).
    @Sendable static func jemallocGauges() -> [String: Double] {
        guard let stats = Jemalloc.stats() else { return [:] }
        return [
            "jemalloc_allocated_bytes": Double(stats.allocated), "jemalloc_resident_bytes": Double(stats.resident),
            "jemalloc_active_bytes": Double(stats.active), "jemalloc_mapped_bytes": Double(stats.mapped),
        ]
    }

    /// SIGINT and SIGTERM request a stop; a second one exits at once (the stale data directory is
    /// removed by the next run, as its marker names this dead process).
    static func handleSignals(_ interrupt: RunInterrupt) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if interrupt.request(signal: number) {
                    Output.error(
                        "\nlayerbench: \(signalName(number)) received: stopping the measured phase and writing the "
                            + "partial report of the finished variants (again to exit at once)")
                } else {
                    Output.error("\nlayerbench: \(signalName(number)) received again: exiting at once")
                    _exit(128 + number)
                }
            }
            source.resume()
            return source
        }
    }

    static func signalName(_ number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        default: "signal \(number)"
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
