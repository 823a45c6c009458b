import ArgumentParser

/// The `layerbench` command line.
@main
struct LayerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layerbench",
        abstract: "A three-layer transactional engine and the benchmark harness that drives it.",
        subcommands: [
            RunCommand.self, ValidateCommand.self, CompareCommand.self, MergeCommand.self, GateCommand.self,
            BenchCommand.self, VersionCommand.self,
        ]
    )
}

/// The LayerBench release, printed by `layerbench version` and recorded in every report.
let layerBenchVersion = "0.1.0"
