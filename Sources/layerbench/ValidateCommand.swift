import ArgumentParser
import Workload

/// `layerbench validate SPEC...`: checks specs without running them (exit 2 on the first bad one,
/// after reporting every bad one).
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check workload specs without running them.")

    @Argument(help: "Spec files (YAML).")
    var specs: [String]

    @Option(name: .customLong("set"), help: "Override a key (key=value), as in `run`.")
    var overrides: [String] = []

    func run() throws {
        var failed = false
        for path in specs {
            do {
                let spec = try WorkloadSpec.load(path: path, overrides: overrides)
                let variants = spec.variants
                print(
                    "\(path): ok (\(variants.count) variant\(variants.count == 1 ? "" : "s"): "
                        + variants.map(\.name).joined(separator: ", ") + ")")
                do {
                    try WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp")).checkSupported()
                } catch {
                    print("\(path): note: valid, but this build cannot run it yet: \(error)")
                }
            } catch {
                Output.error(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(2) }
    }
}
