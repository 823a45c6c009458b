import Engine
import Foundation
import Histogram
import PropertyBased
import Results
import Storage
import Synchronization
import Testing
import WorkloadSpec

@testable import Workload

/// A NullBackend that also keeps every request it was asked, for checking what the driver sent.
final class RecordingBackend: Backend {
    let name = "recording"
    private let inner = NullBackend()
    private let requests = Mutex<[TransferRequest]>([])

    var seen: [TransferRequest] { requests.withLock { $0 } }

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        try await inner.load(accounts: count, initialBalance: initialBalance, progress: progress)
    }

    func transfer(_ request: TransferRequest) async -> TransferResult {
        requests.withLock { $0.append(request) }
        return await inner.transfer(request)
    }

    func counters() -> BackendCounters { inner.counters() }
    func gauges() -> [String: Double] { inner.gauges() }
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport { try await inner.audit(expectation) }
    func shutdown() async throws { try await inner.shutdown() }
}

func regionSpec(regions: Int, replicas: Int = 3, _ configure: (inout WorkloadSpec) -> Void = { _ in }) -> WorkloadSpec {
    driverSpec {
        $0.regions = (0..<regions).map { WorkloadSpec.Region(name: "r\($0)", replicas: replicas) }
        var rtt: [WorkloadSpec.RegionPair: Duration] = [:]
        for a in 0..<regions {
            for b in (a + 1)..<max(a + 1, regions) { rtt[.init("r\(a)", "r\(b)")] = .milliseconds(10 * (a + b + 1)) }
        }
        $0.network = WorkloadSpec.Network(intraRegionRTT: .milliseconds(1), jitter: .microseconds(50), rtt: rtt)
        configure(&$0)
    }
}

@Suite("Workload driver: regions")
struct RegionDriverTests {
    @Test("every generated pair lies in the client's home region, for any account and region counts")
    func pairsInHomeRegion() async {
        await propertyCheck(
            input: Gen.int(in: 1...16), Gen.int(in: 0...5_000), Gen.int(in: 0...1), Gen.int(in: 0...Int.max)
        ) { regions, extra, zipf, seed in
            await failOnThrow("regions \(regions), extra \(extra), seed \(seed)") {
                let accounts = 2 * regions + extra
                let spec = regionSpec(regions: regions) {
                    $0.accounts = accounts
                    $0.distribution = zipf == 1 ? .zipf(theta: 0.99) : .uniform
                    $0.seed = UInt64(seed)
                }
                let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
                let chooser = try driver.keyChooser()
                let placement = AccountPlacement(accounts: accounts, regions: regions)
                var random = SplitMix64(seed: UInt64(seed))
                for client in 0..<(3 * regions) {
                    let home = driver.homeRegion(ofClient: client)
                    #expect(home == client % regions)
                    for sequence in 0..<20 {
                        let request = driver.makeRequest(
                            id: UInt64(sequence), region: home, chooser: chooser, random: &random)
                        #expect(request.clientRegion == home)
                        #expect(request.legs.count == 2)
                        #expect(request.legs[0].account != request.legs[1].account)
                        for leg in request.legs {
                            #expect(placement.region(of: leg.account) == home, "account \(leg.account), home \(home)")
                            #expect(placement.accounts(in: home).contains(Int(leg.account)))
                        }
                    }
                }
            }
        }
    }

    @Test("a region homing fewer than 2 accounts is an input error naming accounts")
    func tooFewAccountsPerRegion() throws {
        let spec = regionSpec(regions: 3) { $0.accounts = 5 }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        #expect(throws: DriverError.self) { try driver.checkSupported() }
        do { try driver.checkSupported() } catch { #expect(error.key == "accounts") }
        let enough = WorkloadDriver(
            spec: regionSpec(regions: 3) { $0.accounts = 6 }, options: DriverOptions(dataDirectory: "/tmp/unused"))
        try enough.checkSupported()
    }

    @Test("several regions of replicas and async replication are accepted; the engine gets network, seed, mode")
    func engineConfiguration() throws {
        let spec = regionSpec(regions: 3) {
            $0.optimisations.asyncReplication = [false, true]
            $0.seed = 99
        }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        try driver.checkSupported()
        let variants = spec.variants
        #expect(variants.count == 2)
        let sync = driver.engineConfiguration(for: variants[0], directory: "/tmp/unused")
        let async = driver.engineConfiguration(for: variants[1], directory: "/tmp/unused")
        #expect(sync.replication == .sync)
        #expect(async.replication == .async)
        #expect(sync.seed == 99)
        #expect(sync.regions.map(\.name) == ["r0", "r1", "r2"])
        #expect(sync.regions.allSatisfy { $0.replicas == 3 })
        #expect(sync.network.intraRegionRTT == .milliseconds(1))
        #expect(sync.network.jitter == .microseconds(50))
        for a in 0..<3 {
            for b in 0..<3 {
                let expected = spec.network.rtt(between: "r\(a)", and: "r\(b)")
                #expect(sync.network.rtt(a, b) == expected)
                #expect(sync.network.interRegionRTT[a][b] == (a == b ? .zero : expected))
            }
        }
        #expect(sync.network.rtt(0, 2) == .milliseconds(30))
    }

    @Test(
        "faults are still refused; cross-region mixes and locality on PostgreSQL or in one region too, naming the key")
    func stillRefused() {
        let cases: [(String, (inout WorkloadSpec) -> Void)] = [
            (
                "faults",
                { $0.faults = [.init(at: .seconds(1), kind: .crashNode, region: "r0", duration: .seconds(1))] }
            ),
            // One region: nothing to cross.
            (
                "mix",
                {
                    $0.regions = [.init(name: "r0", replicas: 3)]
                    $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 0)
                }
            ),
            (
                "mix",
                {
                    $0.regions = [.init(name: "r0", replicas: 3)]
                    $0.mix = .init(singleRegion: 1, crossRegion: 0, global: 1)
                }
            ),
            // PostgreSQL: one region, no L2 coordinator.
            (
                "mix",
                {
                    $0.backend = .postgres
                    $0.regions = [.init(name: "r0", replicas: 1)]
                    $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 0)
                }
            ),
            (
                "optimisations.locality",
                {
                    $0.backend = .postgres
                    $0.regions = [.init(name: "r0", replicas: 1)]
                    $0.optimisations.locality = [true]
                }
            ),
        ]
        for (key, configure) in cases {
            let driver = WorkloadDriver(
                spec: regionSpec(regions: 3, configure), options: DriverOptions(dataDirectory: "/tmp/unused"))
            do {
                try driver.checkSupported()
                Issue.record("\(key) was accepted")
            } catch { #expect(error.key == key) }
        }
    }

    @Test("cross-region and global mixes and locality run on embedded regions; the engine gets locality and timestamps")
    func classesAccepted() throws {
        let spec = regionSpec(regions: 3) {
            $0.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
            $0.optimisations.locality = [false, true]
            $0.timestamps = .tso
        }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        try driver.checkSupported()
        let configurations = spec.variants.map { driver.engineConfiguration(for: $0, directory: "/tmp/unused") }
        #expect(configurations.map(\.locality) == [false, true])
        #expect(configurations.allSatisfy { $0.timestamps == .tso })
        var hlc = spec
        hlc.timestamps = .hlc
        let hlcDriver = WorkloadDriver(spec: hlc, options: DriverOptions(dataDirectory: "/tmp/unused"))
        #expect(hlc.variants.allSatisfy { hlcDriver.engineConfiguration(for: $0, directory: "/x").timestamps == .hlc })
        // Locality is a switch of one embedded region too (one-phase commit or 2PC through the
        // global coordinator).
        let one = WorkloadDriver(
            spec: regionSpec(regions: 1) { $0.optimisations.locality = [false, true] },
            options: DriverOptions(dataDirectory: "/tmp/unused"))
        try one.checkSupported()
    }

    @Test(
        "closed loop: clients send from their home regions, and per-region results add up to the totals",
        arguments: [1, 2, 3, 5])
    func closedLoopRegions(regions: Int) async throws {
        let spec = regionSpec(regions: regions) {
            $0.accounts = 40
            $0.load = .closedLoop(clients: [7])
            $0.length = .transactions(700)
        }
        let backend = RecordingBackend()
        let result = try await runFirstVariant(spec) { _ in backend }
        let placement = AccountPlacement(accounts: 40, regions: regions)
        for request in backend.seen {
            let client = Int(request.id >> 40)
            #expect(request.clientRegion == client % regions)
            for leg in request.legs { #expect(placement.region(of: leg.account) == request.clientRegion) }
        }
        try expectRegionsAddUp(result, regions: regions)
        // A region's results hold only transfers its clients issued (which clients ran before the
        // count was reached is up to the scheduler; the last in flight are issued, not measured).
        for region in 0..<regions {
            let issued = backend.seen.filter { $0.clientRegion == region }.count
            #expect(result.regions[region].transfers <= issued, "region \(region)")
        }
        #expect(result.checksPassed)
    }

    @Test("open loop: sends go to the regions round-robin, and per-region results add up to the totals")
    func openLoopRegions() async throws {
        // A rate a debug build keeps up with on a busy machine.
        let spec = regionSpec(regions: 3) {
            $0.accounts = 30
            $0.load = .openLoop(rate: 1_000, maxInFlight: 64)
            $0.length = .transactions(300)
        }
        let backend = RecordingBackend()
        let result = try await runFirstVariant(spec) { _ in backend }
        let placement = AccountPlacement(accounts: 30, regions: 3)
        for request in backend.seen {
            let sequence = request.id & ((1 << 55) - 1)
            #expect(request.clientRegion == Int(sequence % 3))
            for leg in request.legs { #expect(placement.region(of: leg.account) == request.clientRegion) }
        }
        try expectRegionsAddUp(result, regions: 3)
    }

    func expectRegionsAddUp(_ result: VariantResult, regions: Int) throws {
        #expect(result.regions.map(\.region) == (0..<regions).map { "r\($0)" })
        let total = try #require(result.result(for: .singleRegion))
        let merged = ClassResult.merged(result.regions.flatMap(\.classes))
        #expect(merged == result.classes)
        #expect(result.regions.reduce(0) { $0 + $1.committed } == result.committed)
        #expect(result.regions.reduce(0) { $0 + $1.transfers } == result.transfers)
        #expect(result.regions.reduce(0) { $0 + ($1.total?.retries ?? 0) } == total.retries)
        for layer in MetricLayer.allCases {
            let count = result.regions.reduce(UInt64(0)) { $0 + ($1.total?.histogram(layer).totalCount ?? 0) }
            #expect(count == total.histogram(layer).totalCount)
        }
    }
}

@Suite("Workload checks: replicas")
struct ReplicaCheckTests {
    static let nodes = (0..<3).map { NodeID(region: "r0", replica: $0) } + [NodeID(region: "r1", replica: 0)]

    func driver(replicas: Int = 3) -> WorkloadDriver {
        let spec = regionSpec(regions: 2) { spec in
            spec.regions[1].replicas = 1
            spec.regions[0].replicas = replicas
        }
        return WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
    }

    func report(hashes: [UInt64], lost: Int = 0, failover: Int = 0, replicaXid: Int = 0) -> AuditReport {
        var report = AuditReport(
            expectedTotal: 100, actualTotal: 100, acknowledged: 50, lost: lost,
            stateHashes: Dictionary(uniqueKeysWithValues: zip(Self.nodes, hashes)), accountsFound: 10)
        report.appliedIndexes = Dictionary(uniqueKeysWithValues: Self.nodes.map { ($0, UInt64(41)) })
        report.acknowledgedLostInFailover = failover
        report.replicaXidMismatches = replicaXid
        return report
    }

    func check(_ name: String, in checks: [CheckResult]) throws -> CheckResult {
        try #require(checks.first { $0.name == name })
    }

    @Test("replica convergence fails when two replicas of a region differ, and lists every replica")
    func convergence() throws {
        let equal = try check("replica_convergence", in: driver().checks(report(hashes: [7, 7, 7, 9])))
        #expect(equal.passed)
        #expect(equal.detail.contains("r0: 3 replicas converged"))
        #expect(equal.detail.contains("r1: 1 replica, converged trivially"))
        #expect(equal.detail.contains("node-2 applied 41, hash 7"))
        let diverged = try check("replica_convergence", in: driver().checks(report(hashes: [7, 8, 7, 9])))
        #expect(!diverged.passed)
        #expect(diverged.detail.contains("r0: 3 replicas DIVERGED, 2 distinct hashes"))
        #expect(diverged.detail.contains("node-1 applied 41, hash 8"))
    }

    @Test("the identity must hold on every replica")
    func identityOnReplicas() throws {
        let good = try check("cross_layer_identity", in: driver().checks(report(hashes: [1, 1, 1, 2])))
        #expect(good.passed)
        let bad = try check(
            "cross_layer_identity", in: driver().checks(report(hashes: [1, 1, 1, 2], replicaXid: 3)))
        #expect(!bad.passed)
        #expect(bad.detail.contains("3 committed versions differ"))
    }

    @Test("sync replication: any acknowledged loss fails; async: failover losses are reported, not failed")
    func durabilityRule() throws {
        let hashes: [UInt64] = [1, 1, 1, 2]
        // Sync: a loss fails, whether or not the backend attributes it to a failover.
        for (lost, failover) in [(1, 0), (2, 2), (0, 1)] {
            let sync = try check(
                "durability",
                in: driver().checks(report(hashes: hashes, lost: lost, failover: failover), asyncReplication: false))
            #expect(!sync.passed, "sync, lost \(lost), failover \(failover)")
        }
        let clean = try check("durability", in: driver().checks(report(hashes: hashes), asyncReplication: false))
        #expect(clean.passed)
        #expect(clean.detail.contains("sync replication: 0 lost in failover"))
        // Async: the failover losses are the measured price, shown in the detail.
        let async = try check(
            "durability", in: driver().checks(report(hashes: hashes, lost: 4, failover: 4), asyncReplication: true))
        #expect(async.passed)
        #expect(async.detail.contains("4 acknowledged transfers lost in failover"))
        // Async: a loss no failover explains still fails.
        let unexplained = try check(
            "durability", in: driver().checks(report(hashes: hashes, lost: 5, failover: 4), asyncReplication: true))
        #expect(!unexplained.passed)
    }

    @Test("a run with replicas reports the failover losses as a counter (the cost async replication pays)")
    func failoverCounter() async throws {
        let spec = regionSpec(regions: 2) {
            $0.accounts = 20
            $0.load = .closedLoop(clients: [2])
            $0.length = .transactions(50)
            $0.optimisations.asyncReplication = [true]
        }
        let result = try await runFirstVariant(spec) { _ in NullBackend() }
        #expect(result.counters["acknowledged_lost_in_failover"] == 0)
        #expect(result.parameters["async_replication"] == "true")
    }
}
