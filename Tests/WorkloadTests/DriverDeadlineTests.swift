import Engine
import Foundation
import Results
import Storage
import Synchronization
import Testing
import Workload
import WorkloadSpec

/// Runs `spec`'s first variant on `clock`, advancing it by `step` whenever all `sleepers` tasks
/// (the clients and the sampler) sleep on it, until the run finishes or `limit` of clock time
/// has passed. Returns the clock time used and
/// the result (nil when the run had not finished by `limit`; it is then released and awaited).
func drive(
    _ spec: WorkloadSpec, clock: ManualClock, interrupt: RunInterrupt? = nil, interruptAfter: UInt64? = nil,
    sleepers: Int, step: UInt64 = 100_000_000, limit: UInt64,
    makeBackend: @escaping @Sendable (EngineConfiguration) throws -> any Backend = { _ in NullBackend() }
) async throws -> (advanced: UInt64, result: VariantResult?, interrupted: Bool) {
    let directory = NSTemporaryDirectory() + "layerbench-deadline-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let driver = WorkloadDriver(
        spec: spec, options: DriverOptions(dataDirectory: directory, clock: clock, interrupt: interrupt))
    let variant = try #require(spec.variants.first)
    let done = Atomic<Bool>(false)
    let task = Task {
        defer { done.store(true, ordering: .relaxed) }
        return try await driver.run(variant: variant, index: 1, of: 1, makeBackend: makeBackend)
    }
    var advanced: UInt64 = 0
    while !done.load(ordering: .relaxed) && advanced < limit {
        if clock.sleeperCount < sleepers {
            await Task.yield()
            continue
        }
        if let interruptAfter, advanced >= interruptAfter { interrupt?.request(signal: 2) }
        clock.advance(by: step)
        advanced += step
    }
    let finished = done.load(ordering: .relaxed)
    if !finished {
        // Release whatever still sleeps (the unbounded think time this test is about).
        while !done.load(ordering: .relaxed) {
            clock.advance(by: 3_600_000_000_000)
            await Task.yield()
        }
    }
    do {
        let result = try await task.value
        return (advanced, finished ? result : nil, false)
    } catch is RunInterrupted {
        return (advanced, nil, true)
    }
}

/// Every wait of a run ends at its deadline or at an interrupt, on the injected clock (issue 8,
/// item 5, and the harness half of issue 7's one clock). Driven by a `ManualClock`: no sleeps.
@Suite("Driver deadlines on the engine clock", .serialized)
struct DriverDeadlineTests {
    @Test("a think time longer than the run ends with the run, not after it")
    func thinkTimeEndsAtDeadline() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [2])
            $0.length = .duration(.seconds(1))
            $0.thinkTime = .seconds(3600)
        }
        let clock = ManualClock()
        let (advanced, result, _) = try await drive(spec, clock: clock, sleepers: 3, limit: 5_000_000_000)
        let finished = try #require(result, "the run was still waiting after 5 s of a 1 s run")
        #expect(advanced <= 2_000_000_000)
        #expect(finished.committed == 2, "each client sends one transfer, then thinks past the end")
        #expect(finished.durationSeconds == 1)
    }

    @Test("an interrupt ends a transaction-count run that would otherwise wait for an hour")
    func interruptEndsWaits() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [1])
            $0.length = .transactions(1000)
            $0.thinkTime = .seconds(3600)
        }
        let clock = ManualClock()
        let interrupt = RunInterrupt()
        let (advanced, _, interrupted) = try await drive(
            spec, clock: clock, interrupt: interrupt, interruptAfter: 500_000_000, sleepers: 2, limit: 5_000_000_000)
        #expect(interrupted)
        #expect(advanced <= 1_000_000_000)
    }

    @Test("the time series records the engine's gauges each second")
    func gaugesEachSecond() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [1])
            $0.length = .duration(.seconds(3))
            $0.thinkTime = .milliseconds(100)
        }
        let clock = ManualClock()
        let backend = GaugedBackend()
        let (_, result, _) = try await drive(spec, clock: clock, sleepers: 2, limit: 10_000_000_000) { _ in
            backend
        }
        let finished = try #require(result)
        #expect(finished.timeSeries.count == 3)
        var last = -1.0
        for point in finished.timeSeries {
            let entries = try #require(point.gauges?["commit_log_entries"], "second \(point.second)")
            #expect(entries > last, "second \(point.second): the gauge is read each second, not once")
            last = entries
            #expect(point.gauges?["heap_versions"] == 100, "second \(point.second)")
            #expect(point.gauges?["pool_high_water"] == nil, "only the memory gauges go in the series")
        }
    }
}

/// Commits every transfer and reports, as gauges, how many it committed (the commit log grows
/// with them) and a fixed heap.
final class GaugedBackend: Backend {
    let name = "gauged"
    private let transfers = Atomic<Int>(0)

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        count
    }

    func transfer(_ request: TransferRequest) async -> TransferResult {
        transfers.add(1, ordering: .relaxed)
        return await NullBackend().transfer(request)
    }

    func counters() -> BackendCounters { BackendCounters() }
    func gauges() -> [String: Double] {
        [
            "commit_log_entries": Double(transfers.load(ordering: .relaxed)), "heap_versions": 100,
            "pool_high_water": 1,
        ]
    }
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        try await NullBackend().audit(expectation)
    }
    func shutdown() async throws {}
}
