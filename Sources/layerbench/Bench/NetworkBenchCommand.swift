import ArgumentParser
import Distributed
import Foundation
import Storage
import Synchronization

/// `layerbench bench network`: the simulated WAN's one timer service (a heap on the clock, one
/// sleeping task) under load: messages per second through a zero-RTT link, and the CPU cost of
/// holding 100,000 messages in flight on a long link.
struct NetworkBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Benchmark the simulated network's delivery of delayed messages.",
        discussion: ExitStatus.help())

    @Option(help: "Messages sent through the zero-RTT link.")
    var messages: Int = 1_000_000

    @Option(help: "Messages held in flight at once on the delayed link.")
    var inFlight: Int = 100_000

    @Option(help: "Round-trip time of the delayed link, in milliseconds.")
    var rttMs: Int = 200

    func run() async throws {
        guard messages > 0, inFlight > 0, rttMs > 0 else {
            throw ValidationError("--messages, --in-flight and --rtt-ms must be positive")
        }
        let zero = try await Self.measure(count: messages, rttNanos: 0, batch: 1_000)
        print(
            "zero-RTT link: \(messages) messages in \(Self.format(zero.seconds)) s = "
                + "\(Int(Double(messages) / zero.seconds)) messages/s (CPU \(Self.format(zero.cpuSeconds)) s)")
        let delayed = try await Self.measure(count: inFlight, rttNanos: UInt64(rttMs) * 1_000_000, batch: inFlight)
        print(
            "\(inFlight) messages in flight on a \(rttMs) ms link: peak in flight \(delayed.peakInFlight), all delivered "
                + "after \(Self.format(delayed.seconds)) s, CPU \(Self.format(delayed.cpuSeconds)) s "
                + "(\(Int(delayed.cpuSeconds * 1e9 / Double(inFlight))) ns per message)")
    }

    struct Measurement {
        var seconds: Double
        var cpuSeconds: Double
        var peakInFlight: Int
    }

    /// Sends `count` messages from node A to node B in batches of `batch`, and waits until the
    /// transport has delivered them all.
    static func measure(count: Int, rttNanos: UInt64, batch: Int) async throws -> Measurement {
        let topology = try NetworkTopology(rttNanos: [[0]], intraRegionRTTNanos: rttNanos)
        let transport = NetworkTransport<UInt64>(
            network: SimulatedNetwork(topology: topology, seed: 1), clock: SystemClock.shared)
        let delivered = Atomic<Int>(0)
        let from = NodeAddress(region: 0, node: 0)
        let to = NodeAddress(region: 0, node: 1)
        let cpuBefore = cpuSeconds()
        let start = SystemClock.shared.nowNanos()
        let loop = Task { await transport.run { delivered.add($0.count, ordering: .relaxed) } }
        var sent = 0
        var peak = 0
        while sent < count {
            let end = min(count, sent + batch)
            for index in sent..<end { transport.send(UInt64(index), bytes: 64, from: from, to: to) }
            sent = end
            peak = max(peak, transport.inFlight)
            await Task.yield()
        }
        while delivered.load(ordering: .relaxed) < count { try await Task.sleep(for: .milliseconds(1)) }
        let seconds = Double(SystemClock.shared.nowNanos() &- start) / 1e9
        loop.cancel()
        return Measurement(seconds: seconds, cpuSeconds: cpuSeconds() - cpuBefore, peakInFlight: peak)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
