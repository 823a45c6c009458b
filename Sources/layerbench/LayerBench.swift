import ArgumentParser
import Foundation

/// The `layerbench` command line.
@main
struct LayerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layerbench",
        abstract: "A three-layer transactional engine and the benchmark harness that drives it.",
        discussion: ExitStatus.help(["2   a regression (gate)", "130 run interrupted by SIGINT, 143 by SIGTERM"]),
        subcommands: [
            RunCommand.self, ValidateCommand.self, CompareCommand.self, MergeCommand.self, GateCommand.self,
            BenchCommand.self, ClusterCommand.self, VersionCommand.self,
        ]
    )

    /// Runs the command; a usage error exits 1 (ArgumentParser's default is 64), as documented.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                Output.error(fullMessage(for: error))
                Foundation.exit(ExitStatus.failure)
            }
            exit(withError: error)
        }
    }
}

/// The LayerBench release, printed by `layerbench version` and recorded in every report.
let layerBenchVersion = "0.1.0"
