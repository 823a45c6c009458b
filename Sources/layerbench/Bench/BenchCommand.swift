import ArgumentParser

/// `layerbench bench ...`: micro-benchmarks of one layer at a time.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark one layer of the engine in isolation.",
        discussion: ExitStatus.help(),
        subcommands: [StorageBenchCommand.self, DriverBenchCommand.self, NetworkBenchCommand.self])
}
