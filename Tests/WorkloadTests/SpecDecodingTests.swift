import Foundation
import Testing
import WorkloadSpec

@Suite("Workload spec decoding")
struct SpecDecodingTests {
    typealias Spec = WorkloadSpec

    private func fixture(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures")
        )
        return url.path
    }

    @Test("a minimal spec gets every default")
    func minimalSpecDefaults() throws {
        let spec = try Spec.decode(yaml: "name: tiny\naccounts: 2\n", file: "tiny.yaml")
        #expect(spec == Spec(name: "tiny", accounts: 2))
        #expect(spec.description == "")
        #expect(spec.backend == .embedded)
        #expect(spec.seed == 1)
        #expect(spec.initialBalance == 1000)
        #expect(spec.overdraft == false)
        #expect(spec.payloadBytes == 32)
        #expect(spec.amount == Spec.AmountRange(min: 1, max: 100))
        #expect(spec.distribution == .uniform)
        #expect(spec.regions == [Spec.Region(name: "local", replicas: 1)])
        #expect(spec.network == Spec.Network())
        #expect(spec.mix == Spec.TransferMix(singleRegion: 1, crossRegion: 0, global: 0))
        #expect(spec.load == .closedLoop(clients: [16]))
        #expect(spec.thinkTime == .zero)
        #expect(spec.warmup == .seconds(1))
        #expect(spec.length == .duration(.seconds(10)))
        #expect(spec.isolation == .serializable)
        #expect(spec.timestamps == .hlc)
        #expect(spec.durability == .fsync)
        #expect(
            spec.optimisations == Spec.Optimisations(locality: [false], batchCommit: [false], asyncReplication: [false])
        )
        #expect(spec.batch == Spec.Batch(size: 16, window: .milliseconds(1)))
        #expect(
            spec.pool
                == Spec.Pool(
                    size: 16, minIdle: 0, acquireTimeout: .seconds(5), maxLifetime: .seconds(1800),
                    idleTimeout: .seconds(60)))
        #expect(
            spec.retry
                == Spec.Retry(
                    maxAttempts: 10, baseBackoff: .milliseconds(1), maxBackoff: .milliseconds(100),
                    maxTotal: .seconds(5)))
        #expect(spec.lockTimeout == .seconds(1))
        #expect(spec.faults.isEmpty)
        #expect(spec.checks == Spec.Checks())
        #expect(spec.checks.conservation && spec.checks.crossLayerIdentity)
        #expect(spec.tolerateErrors == false)
        #expect(spec.gate.isEmpty)
        #expect(spec.report == Spec.Report(directory: "reports", formats: [.md, .csv, .json]))
    }

    @Test("a spec with every key decodes to the values it names")
    func fullSpec() throws {
        let spec = try Spec.load(path: fixture("full"))
        #expect(spec.name == "full-spec")
        #expect(spec.description == "every key with a non-default value")
        #expect(spec.backend == .postgres)
        #expect(spec.seed == 7)
        #expect(spec.accounts == 5000)
        #expect(spec.initialBalance == 250)
        #expect(spec.overdraft)
        #expect(spec.payloadBytes == 0)
        #expect(spec.amount == Spec.AmountRange(min: 5, max: 50))
        #expect(spec.distribution == .hotspot(fraction: 0.05, probability: 0.8))
        #expect(
            spec.regions == [
                Spec.Region(name: "us-east", replicas: 3), Spec.Region(name: "eu-west", replicas: 5),
                Spec.Region(name: "ap-south", replicas: 1),
            ])
        #expect(spec.network.intraRegionRTT == .microseconds(500))
        #expect(spec.network.jitter == .milliseconds(2))
        #expect(spec.network.rtt(between: "us-east", and: "eu-west") == .milliseconds(80))
        #expect(spec.network.rtt(between: "eu-west", and: "us-east") == .milliseconds(80))
        #expect(spec.network.rtt(between: "ap-south", and: "us-east") == .milliseconds(200))
        #expect(spec.network.rtt(between: "ap-south", and: "eu-west") == .milliseconds(1500))
        #expect(spec.network.rtt(between: "eu-west", and: "eu-west") == .microseconds(500))
        #expect(spec.network.rtt.count == 3)
        #expect(spec.mix == Spec.TransferMix(singleRegion: 0.7, crossRegion: 0.2, global: 0.1))
        #expect(abs(spec.mix.fraction(of: .crossRegion) - 0.2) < 1e-12)
        #expect(spec.load == .openLoop(rate: 5000, maxInFlight: 256))
        #expect(spec.thinkTime == .milliseconds(10))
        #expect(spec.warmup == .seconds(3))
        #expect(spec.length == .transactions(100_000))
        #expect(spec.isolation == .repeatableRead)
        #expect(spec.timestamps == .tso)
        #expect(spec.durability == .none)
        #expect(spec.optimisations.locality == [false, true])
        #expect(spec.optimisations.batchCommit == [true])
        #expect(spec.optimisations.asyncReplication == [false, true])
        #expect(spec.batch == Spec.Batch(size: 64, window: .milliseconds(2)))
        #expect(
            spec.pool
                == Spec.Pool(
                    size: 32, minIdle: 4, acquireTimeout: .seconds(2), maxLifetime: .seconds(600),
                    idleTimeout: .seconds(30)))
        #expect(
            spec.retry
                == Spec.Retry(
                    maxAttempts: 5, baseBackoff: .milliseconds(2), maxBackoff: .milliseconds(50),
                    maxTotal: .seconds(1)))
        #expect(spec.lockTimeout == .milliseconds(250))
        #expect(
            spec.faults == [
                Spec.Fault(at: .seconds(5), kind: .crashNode, region: "us-east", duration: .seconds(2)),
                Spec.Fault(at: .seconds(6), kind: .partition, region: "eu-west", duration: .seconds(1)),
                Spec.Fault(
                    at: .seconds(7), kind: .loss, region: "ap-south", duration: .seconds(1),
                    probability: 0.25),
                Spec.Fault(
                    at: .seconds(8), kind: .delay, region: "us-east", duration: .seconds(3),
                    extra: .milliseconds(40)),
                Spec.Fault(
                    at: .seconds(9), kind: .clockSkew, region: "eu-west", duration: .seconds(60),
                    extra: .milliseconds(500)),
            ])
        #expect(
            spec.checks
                == Spec.Checks(
                    conservation: true, noNegative: false, durability: true, replicaConvergence: false,
                    crossLayerIdentity: true))
        #expect(spec.tolerateErrors)
        #expect(
            spec.gate == [
                Spec.GateThreshold(metric: "fsyncs_per_transfer", relativePercent: 10, absolute: 0.05),
                Spec.GateThreshold(metric: "tps", relativePercent: 12.5),
                Spec.GateThreshold(metric: "p99_ms", absolute: 3),
            ])
        #expect(spec.report == Spec.Report(directory: "out/reports", formats: [.json, .md]))
        #expect(spec.variants.count == 4)
    }

    @Test("the other distributions decode, with defaults for their parameters")
    func distributions() throws {
        let zipf = try Spec.decode(yaml: minimalSpec + "distribution: {type: zipf, theta: 1.2}", file: "t")
        #expect(zipf.distribution == .zipf(theta: 1.2))
        let zipfDefault = try Spec.decode(yaml: minimalSpec + "distribution: {type: zipf}", file: "t")
        #expect(zipfDefault.distribution == .zipf(theta: 0.99))
        let hotspot = try Spec.decode(yaml: minimalSpec + "distribution: {type: hotspot}", file: "t")
        #expect(hotspot.distribution == .hotspot(fraction: 0.01, probability: 0.9))
        let uniform = try Spec.decode(yaml: minimalSpec + "distribution: {type: uniform}", file: "t")
        #expect(uniform.distribution == .uniform)
    }

    @Test("the canonical YAML decodes back to an equal spec")
    func canonicalRoundTrip() throws {
        let full = try Spec.load(path: fixture("full"))
        let fullAgain = try Spec.decode(yaml: full.canonicalYAML, file: "canonical.yaml")
        #expect(fullAgain == full)
        #expect(full.canonicalYAML.contains("rate: 5000\n"))
        #expect(full.canonicalYAML.contains("locality: [false, true]"))

        var odd = Spec(name: "odd", accounts: 3)
        odd.description = "quotes \" and\nnew lines: true"
        odd.regions = [Spec.Region(name: "no", replicas: 2), Spec.Region(name: "1", replicas: 1)]
        odd.network.rtt[Spec.RegionPair("no", "1")] = .microseconds(1500)
        odd.gate = [Spec.GateThreshold(metric: "p99.9 ms: e2e", relativePercent: 0.5)]
        odd.distribution = .zipf(theta: 0.00001)
        odd.load = .closedLoop(clients: [1, 8, 64])
        let oddAgain = try Spec.decode(yaml: odd.canonicalYAML, file: "canonical.yaml")
        #expect(oddAgain == odd)

        let minimal = Spec(name: "m", accounts: 2)
        #expect(try Spec.decode(yaml: minimal.canonicalYAML, file: "m") == minimal)
    }

    @Test("comments, quoting and digit separators are plain YAML")
    func yamlForms() throws {
        let spec = try Spec.decode(
            yaml: """
                # a comment
                name: "quoted-name"   # trailing comment
                accounts: 1_000_000
                seed: 18446744073709551615
                """,
            file: "t")
        #expect(spec.name == "quoted-name")
        #expect(spec.accounts == 1_000_000)
        #expect(spec.seed == UInt64.max)
    }

    @Test("every spec shipped in workloads/ is valid")
    func shippedWorkloads() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("workloads")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        #expect(files.contains("quickstart.yaml"))
        #expect(files.contains("single-region.yaml"))
        #expect(files.contains("reference.yaml"))
        for file in files {
            let path = directory.appendingPathComponent(file).path
            do {
                let spec = try Spec.load(path: path)
                #expect(spec.name + ".yaml" == file, "a spec's name matches its file name")
                #expect(try Spec.decode(yaml: spec.canonicalYAML, file: file) == spec)
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test("quickstart runs batch commit off and on")
    func quickstart() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let spec = try Spec.load(path: root.appendingPathComponent("workloads/quickstart.yaml").path)
        #expect(spec.backend == .embedded)
        #expect(spec.regions.count == 1)
        #expect(spec.accounts == 10000)
        #expect(spec.load == .closedLoop(clients: [16]))
        #expect(spec.warmup == .seconds(1))
        #expect(spec.length == .duration(.seconds(5)))
        #expect(spec.isolation == .serializable)
        #expect(spec.mix.fraction(of: .singleRegion) == 1)
        #expect(spec.variants.map(\.name) == ["baseline", "batch_commit"])
    }
}
