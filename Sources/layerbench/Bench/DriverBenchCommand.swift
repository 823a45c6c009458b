import ArgumentParser
import Engine
import Foundation
import Histogram
import Results
import Workload
import WorkloadSpec

/// `layerbench bench driver`: the closed-loop driver with per-layer recording against a backend
/// that does nothing, to show the harness sustains far more than any engine it measures. With
/// `--rate`, the open loop instead, against a backend whose transfers each wait `--latency` ms
/// (WAN-like latency, no CPU): it shows how many transfers the driver keeps outstanding.
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

    @Option(help: "Open loop: transfers offered per second (Poisson arrivals); replaces --clients.")
    var rate: Double?

    @Option(help: "Open loop: milliseconds each transfer of the null backend waits (no CPU).")
    var latency: Int = 150

    @Option(help: "Open loop: the most transfers outstanding at once.")
    var maxInFlight: Int = 10_000

    func run() async throws {
        if let rate {
            try await runOpenLoop(rate: rate)
            return
        }
        let counts = clients.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        guard !counts.isEmpty else { throw ValidationError("--clients must list positive integers") }
        guard (1...16).contains(regions) else { throw ValidationError("--regions must be in 1...16") }
        print(
            "clients | transfers/s | CPU µs/transfer | allocated B/transfer "
                + "(null backend, per-layer recording, 1 s sampling; jemalloc growth from the first second to the last)"
        )
        for count in counts {
            guard let result = try await measure(.closedLoop(clients: [count]), backend: NullBackend()) else {
                continue
            }
            let cpu = result.counters["process_cpu_us_per_transfer"] ?? 0
            let growth = Self.allocatedBytesPerTransfer(result.timeSeries).map { String(format: "%.1f", $0) } ?? "-"
            print(
                "\(String(count).padded(7)) | \(String(Int(result.tps)).padded(11)) | "
                    + "\(String(format: "%.3f", cpu).padded(15)) | \(growth)")
        }
    }

    /// jemalloc's allocated bytes from the end of the first measured second to the end of the
    /// last full one, per transfer committed in between: what the driver keeps per transfer (the
    /// null backend keeps nothing). Nil without two points carrying the gauge.
    static func allocatedBytesPerTransfer(_ series: [TimeSeriesPoint]) -> Double? {
        let points = series.filter { $0.gauges?["jemalloc_allocated_bytes"] != nil }
        // The last point may be a partial second.
        guard points.count >= 3, let first = points.first?.gauges?["jemalloc_allocated_bytes"] else { return nil }
        let window = points.dropFirst().dropLast()
        guard let last = window.last?.gauges?["jemalloc_allocated_bytes"] else { return nil }
        let committed = window.reduce(0) { $0 + $1.totalTPS }
        return committed > 0 ? (last - first) / committed : nil
    }

    /// One open-loop run at `rate` against a null backend of `latency` ms per transfer.
    func runOpenLoop(rate: Double) async throws {
        guard rate > 0, latency >= 0, maxInFlight > 0 else {
            throw ValidationError("--rate and --max-in-flight must be positive, --latency not negative")
        }
        let backend = NullBackend(latency: .milliseconds(latency))
        guard let result = try await measure(.openLoop(rate: rate, maxInFlight: maxInFlight), backend: backend) else {
            return
        }
        let cpu = result.counters["process_cpu_us_per_transfer"] ?? 0
        let peak = result.counters["null_in_flight_peak"].map { String(Int($0)) } ?? "?"
        let lag = result.scheduleLag.map { String($0.valueAtPercentile(99)) } ?? "-"
        print("offered/s | transfers/s | peak in flight | schedule lag p99 µs | CPU µs/transfer")
        print(
            "\(String(Int(rate)).padded(9)) | \(String(Int(result.tps)).padded(11)) | \(peak.padded(14)) | "
                + "\(lag.padded(19)) | \(String(format: "%.3f", cpu))")
    }

    /// One measured run of `load` against `backend`: `seconds` after a 1 s warm-up, over `regions`
    /// regions (with more than one, the mix of all three classes).
    func measure(_ load: WorkloadSpec.Load, backend: NullBackend) async throws -> VariantResult? {
        var spec = WorkloadSpec(name: "driver-bench", accounts: 100_000)
        spec.load = load
        if regions > 1 {
            spec.regions = (0..<regions).map { WorkloadSpec.Region(name: "r\($0)") }
            spec.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
        }
        spec.warmup = .seconds(1)
        spec.length = .duration(.seconds(seconds))
        let driver = WorkloadDriver(
            spec: spec,
            options: DriverOptions(
                dataDirectory: NSTemporaryDirectory() + "layerbench-driver-bench",
                memoryGauges: RunCommand.jemallocGauges))
        guard let variant = spec.variants.first else { return nil }
        return try await driver.run(variant: variant, index: 1, of: 1) { _ in backend }
    }
}
