import ArgumentParser
import Engine
import Foundation
import Results
import Workload
import WorkloadSpec

/// `layerbench bench driver`: the closed-loop driver with per-layer recording against a backend
/// that does nothing, to show the harness sustains far more than any engine it measures.
struct DriverBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "driver", abstract: "Benchmark the harness itself against a backend that does nothing.",
        discussion: ExitStatus.help())

    @Option(help: "Comma-separated client counts.")
    var clients: String = "2,8"

    @Option(help: "Seconds to measure each client count.")
    var seconds: Int = 5

    @Option(
        help: "Regions; with more than one, transfers mix the classes: 0.5 single-region, 0.3 cross-region, 0.2 global."
    )
    var regions: Int = 1

    func run() async throws {
        let counts = clients.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("--clients must list positive integers") }
        guard (1...16).contains(regions) else { throw ValidationError("--regions must be in 1...16") }
        print("clients | transfers/s | CPU µs/transfer (null backend, per-layer recording, 1 s sampling)")
        for count in counts {
            var spec = WorkloadSpec(name: "driver-bench", accounts: 100_000)
            spec.load = .closedLoop(clients: [count])
            if regions > 1 {
                spec.regions = (0..<regions).map { WorkloadSpec.Region(name: "r\($0)") }
                spec.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
            }
            spec.warmup = .seconds(1)
            spec.length = .duration(.seconds(seconds))
            let driver = WorkloadDriver(
                spec: spec, options: DriverOptions(dataDirectory: NSTemporaryDirectory() + "layerbench-driver-bench"))
            guard let variant = spec.variants.first else { continue }
            let result = try await driver.run(variant: variant, index: 1, of: 1) { _ in NullBackend() }
            let cpu = result.counters["process_cpu_us_per_transfer"] ?? 0
            print("\(String(count).padded(7)) | \(String(Int(result.tps)).padded(11)) | \(String(format: "%.3f", cpu))")
        }
    }
}
