import Storage
import Testing
import WorkloadSpec

@testable import Workload

@Suite("Key chooser")
struct KeyChooserTests {
    @Test(
        "every distribution draws keys in range and pairs of distinct keys",
        arguments: [
            WorkloadSpec.KeyDistribution.uniform, .zipf(theta: 0.5), .zipf(theta: 0.99), .zipf(theta: 2),
            .zipf(theta: 5), .hotspot(fraction: 0.01, probability: 0.9), .hotspot(fraction: 1, probability: 1),
        ])
    func inRange(distribution: WorkloadSpec.KeyDistribution) {
        let chooser = KeyChooser(distribution: distribution, count: 1_000)
        var random = SplitMix64(seed: 3)
        for _ in 0..<20_000 {
            let (a, b) = chooser.pair(&random)
            #expect(a < 1_000 && b < 1_000 && a != b)
        }
    }

    @Test("zipf concentrates picks: the most frequent key takes far more than a uniform share")
    func zipfSkew() {
        let chooser = KeyChooser(distribution: .zipf(theta: 0.99), count: 10_000)
        var random = SplitMix64(seed: 9)
        var counts: [UInt64: Int] = [:]
        for _ in 0..<100_000 { counts[chooser.next(&random), default: 0] += 1 }
        #expect((counts.values.max() ?? 0) > 100 * 10, "uniform would give about 10 per key")
    }

    @Test("hotspot sends about its probability to the hot set")
    func hotspotShare() {
        let chooser = KeyChooser(distribution: .hotspot(fraction: 0.01, probability: 0.9), count: 10_000)
        var random = SplitMix64(seed: 11)
        var hot = 0
        for _ in 0..<100_000 where chooser.next(&random) < 100 { hot += 1 }
        #expect((88_000...92_000).contains(hot))
    }
}
