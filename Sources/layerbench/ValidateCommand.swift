import ArgumentParser
import Workload
import WorkloadSpec

/// `layerbench validate SPEC...`: checks specs without running them (exit 1 after reporting
/// every bad one).
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check workload specs without running them.",
        discussion: ExitStatus.help(["      (1 also for a spec too large for this machine's memory)"]))

    @Argument(help: "Spec files (YAML).")
    var specs: [String]

    @Option(name: .customLong("set"), help: "Override a key (key=value), as in `run`.")
    var overrides: [String] = []

    @Option(name: .customLong("unset"), help: "Remove a key (dotted path), as in `run`.")
    var unsets: [String] = []

    func run() throws {
        var failed = false
        for path in specs {
            do {
                let spec = try WorkloadSpec.load(path: path, overrides: overrides, unsets: unsets)
                let variants = spec.variants
                let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp"))
                do { try driver.checkResources() } catch {
                    Output.error("\(path): error: \(error)")
                    failed = true
                    continue
                }
                print(
                    "\(path): ok (\(variants.count) variant\(variants.count == 1 ? "" : "s"): "
                        + variants.map(\.name).joined(separator: ", ") + ")")
                do { try driver.checkFeatures() } catch {
                    print("\(path): note: valid, but this build cannot run it yet: \(error)")
                }
            } catch {
                Output.error(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }
}
