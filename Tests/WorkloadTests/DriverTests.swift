import Engine
import Foundation
import Histogram
import Results
import Runtime
import Storage
import Testing
import Workload
import WorkloadSpec

/// A backend with a known service time: every transfer takes `delay` (all of it L0) and commits.
final class DelayBackend: Backend {
    let name = "delay"
    let delay: Duration
    let clock: any EngineClock

    init(delay: Duration, clock: any EngineClock = SystemClock.shared) {
        self.delay = delay
        self.clock = clock
    }

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        count
    }

    func transfer(_ request: TransferRequest) async -> TransferResult {
        let inner = NullBackend()
        try? await clock.sleep(for: delay)
        return await inner.transfer(request)
    }

    func counters() -> BackendCounters { BackendCounters() }
    func gauges() -> [String: Double] { [:] }
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        try await NullBackend().audit(expectation)
    }
    func shutdown() async throws {}
}

func driverSpec(_ configure: (inout WorkloadSpec) -> Void) -> WorkloadSpec {
    var spec = WorkloadSpec(name: "driver-test", accounts: 100)
    spec.warmup = .zero
    configure(&spec)
    return spec
}

func runFirstVariant(
    _ spec: WorkloadSpec, _ makeBackend: @escaping @Sendable (EngineConfiguration) throws -> any Backend
) async throws -> VariantResult {
    let directory = NSTemporaryDirectory() + "layerbench-driver-tests-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: directory))
    try driver.checkSupported()
    let variant = try #require(spec.variants.first)
    return try await driver.run(variant: variant, index: 1, of: 1, makeBackend: makeBackend)
}

@Suite("Workload driver")
struct DriverTests {
    @Test("a transaction-count run with one client measures exactly that many transfers")
    func exactCount() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [1])
            $0.length = .transactions(500)
        }
        let result = try await runFirstVariant(spec) { _ in NullBackend() }
        #expect(result.committed == 500)
        #expect(result.checksPassed)
    }

    @Test("with several clients the count overshoots by at most the transfers already in flight")
    func boundedOvershoot() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [4])
            $0.length = .transactions(1_000)
        }
        let result = try await runFirstVariant(spec) { _ in NullBackend() }
        #expect((1_000...1_003).contains(result.committed))
    }

    @Test("closed loop: every latency is at least the backend's service time")
    func closedLoopLatency() async throws {
        let spec = driverSpec {
            $0.load = .closedLoop(clients: [2])
            $0.length = .transactions(20)
        }
        let result = try await runFirstVariant(spec) { _ in DelayBackend(delay: .milliseconds(10)) }
        let total = try #require(result.result(for: .singleRegion))
        #expect(total.histogram(.endToEnd).min >= 10_000)
        #expect(result.scheduleLag == nil)
    }

    @Test("open loop over capacity charges the schedule lag to latency once (no coordinated omission)")
    func openLoopCorrection() async throws {
        // 200 transfers/s offered to a backend that can do 50/s (20 ms each, one at a time): the
        // queue grows, and latency measured from the intended start grows with it.
        let spec = driverSpec {
            $0.load = .openLoop(rate: 200, maxInFlight: 1)
            $0.length = .duration(.seconds(1))
        }
        // On a manual clock shared by the driver and the backend: the run sees exactly the
        // service times above, whatever else the machine is doing.
        let clock = ManualClock()
        let (_, finished, _) = try await drive(spec, clock: clock, sleepers: 2, step: 1_000_000, limit: 10_000_000_000)
        {
            _ in DelayBackend(delay: .milliseconds(20), clock: clock)
        }
        let result = try #require(finished)
        let total = try #require(result.result(for: .singleRegion))
        let lag = try #require(result.scheduleLag)
        #expect(lag.totalCount > 0)
        #expect(lag.max > 100_000, "by the end the schedule is far behind")
        #expect(total.committed <= 60, "the backend cannot do more than ~50 in a second")
        #expect(total.histogram(.endToEnd).valueAtPercentile(50) > 40_000, "median includes queueing, not just 20 ms")
        #expect(total.histogram(.l1).valueAtPercentile(50) > 20_000, "the lag is counted in L1")
        // Once each: measuring from the intended start already charges a stall to every transfer
        // it delayed. HdrHistogram's recordCorrectedValue on top of that counted the lag twice
        // (3,968 samples for these 50 transfers), skewing every percentile at a CPU cost
        // proportional to the lag (quadratic under overload).
        #expect(
            total.histogram(.endToEnd).totalCount == UInt64(total.committed + total.rejected), "one sample per transfer"
        )
        #expect(total.histogram(.l2).totalCount == UInt64(total.committed + total.rejected))
    }

    @Test("the open loop holds thousands of WAN-latency transfers outstanding, up to max_in_flight")
    func openLoopHoldsThousandsInFlight() async throws {
        // The figure: 150 ms transfers at 10,000/s keep 1,500 outstanding. Offered 12,000/s
        // (1,800 expected outstanding) against a cap of 1,500, on a manual clock shared with a
        // backend whose transfers each wait 150 ms: the driver reaches the cap and never passes it.
        let spec = driverSpec {
            $0.load = .openLoop(rate: 12_000, maxInFlight: 1_500)
            $0.length = .duration(.seconds(1))
        }
        let clock = ManualClock()
        let backend = NullBackend(latency: .milliseconds(150), clock: clock)
        let (_, finished, _) = try await drive(spec, clock: clock, sleepers: 2, step: 1_000_000, limit: 30_000_000_000)
        {
            _ in backend
        }
        let result = try #require(finished)
        #expect(backend.peakInFlight == 1_500)
        #expect(result.counters["null_in_flight_peak"] == 1_500)
        let total = try #require(result.result(for: .singleRegion))
        #expect(total.committed > 1_500, "more than one round of the cap completed")
        #expect(total.histogram(.endToEnd).totalCount == UInt64(total.committed))
        #expect(total.histogram(.l2).valueAtPercentile(50) >= 150_000, "the wait is the backend's 150 ms")
    }

    @Test("the quickstart spec runs end to end on the embedded engine and every check passes")
    func quickstartEndToEnd() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        // A transaction count, not a duration: the run measures its transfers however busy the
        // machine is (a 1 s run measured nothing when other tests held the CPUs).
        let spec = try WorkloadSpec.load(
            path: root.appendingPathComponent("workloads/quickstart.yaml").path,
            // A lock timeout is timing: on a machine loaded by the rest of the suite a lock wait
            // can outlast the spec's 1 s, which is not what this test is about.
            overrides: ["transactions=400", "warmup=200ms", "accounts=500", "clients=4", "lock_timeout=60s"],
            unsets: ["duration"])
        let directory = NSTemporaryDirectory() + "layerbench-quickstart-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: directory))
        try driver.checkSupported()
        #expect(spec.variants.count == 2)
        for (index, variant) in spec.variants.enumerated() {
            let result = try await driver.run(variant: variant, index: index + 1, of: spec.variants.count) {
                try EmbeddedBackend(configuration: $0)
            }
            #expect(result.committed > 0)
            #expect(Set(result.checks.map(\.name)).isSuperset(of: ["conservation", "durability", "exactly_once"]))
            for check in result.checks { #expect(check.passed, "\(variant.name): \(check.name): \(check.detail)") }
            #expect((result.counters["fsyncs"] ?? 0) > 0)
            let classResult = try #require(result.result(for: .singleRegion))
            #expect(classResult.failed.isEmpty)
        }
    }

    @Test("specs that need 2PC or faults, or lack accounts per region, are refused, naming the key")
    func unsupported() throws {
        let cases: [(String, (inout WorkloadSpec) -> Void)] = [
            // Regions of replicas run now (L2 part 1); a region homing a single account cannot.
            (
                "accounts",
                {
                    $0.accounts = 3
                    $0.regions = [.init(name: "a", replicas: 3), .init(name: "b", replicas: 3)]
                }
            ),
            // One region: a cross-region transfer has nothing to cross.
            ("mix", { $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 0) }),
            // PostgreSQL has no L2 coordinator to bypass.
            (
                "optimisations.locality",
                {
                    $0.backend = .postgres
                    $0.optimisations.locality = [false, true]
                }
            ),
        ]
        for (key, configure) in cases {
            let driver = WorkloadDriver(
                spec: driverSpec(configure), options: DriverOptions(dataDirectory: "/tmp/unused"))
            #expect(throws: DriverError.self) { try driver.checkSupported() }
            do { try driver.checkSupported() } catch { #expect(error.key == key) }
        }
        // A single-region postgres spec, standbys included, is accepted.
        let postgres = WorkloadDriver(
            spec: driverSpec {
                $0.backend = .postgres
                $0.regions = [.init(name: "local", replicas: 2)]
            }, options: DriverOptions(dataDirectory: "/tmp/unused"))
        #expect(throws: Never.self) { try postgres.checkFeatures() }
        // Several PostgreSQL regions with cross-region and global transfers (two-phase commit by
        // the backend's L2 coordinator) are accepted.
        let postgresRegions = WorkloadDriver(
            spec: driverSpec {
                $0.backend = .postgres
                $0.regions = [.init(name: "a"), .init(name: "b")]
                $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 1)
            }, options: DriverOptions(dataDirectory: "/tmp/unused"))
        #expect(throws: Never.self) { try postgresRegions.checkFeatures() }
    }
}
