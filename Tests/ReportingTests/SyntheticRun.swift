import Foundation
import Histogram
import Results
import Storage
import WorkloadSpec

/// The shared seeded generator (SplitMix64), under this suite's name for it.
typealias SeededRandom = SplitMix64

/// How a synthetic variant behaves.
struct VariantShape {
    var name: String
    var parameters: [String: String]
    /// Transfers recorded per class.
    var transfers: [TransferClass: Int]
    /// Mean L2 latency per class in microseconds; L1 and L0 are fixed fractions of it.
    var l2Micros: [TransferClass: Double]
    var counters: [String: Double] = [:]
    var checksPass = true
    var failuresPer1000 = 2
    var retriesPer1000 = 20
}

enum SyntheticRun {
    /// The default run, made once (recording it takes a while in a debug build).
    static let standard = make()

    static let shapes: [VariantShape] = [
        VariantShape(
            name: "base", parameters: ["locality": "false", "batch_commit": "false", "clients": "16"],
            transfers: [.singleRegion: 1_500, .crossRegion: 500, .global: 100],
            l2Micros: [.singleRegion: 150_000, .crossRegion: 160_000, .global: 320_000],
            counters: [
                "fsyncs": 2_100, "wal_bytes": 1_050_000, "commits_per_fsync": 1.0, "messages": 40_000,
            ]),
        VariantShape(
            name: "batch-on", parameters: ["locality": "false", "batch_commit": "true", "clients": "16"],
            transfers: [.singleRegion: 4_500, .crossRegion: 1_500, .global: 300],
            l2Micros: [.singleRegion: 150_000, .crossRegion: 160_000, .global: 320_000],
            counters: [
                "fsyncs": 700, "wal_bytes": 2_900_000, "commits_per_fsync": 9.0, "messages": 90_000,
            ]),
        VariantShape(
            name: "locality-on",
            parameters: ["locality": "true", "batch_commit": "false", "clients": "16"],
            transfers: [.singleRegion: 6_000, .crossRegion: 500, .global: 100],
            l2Micros: [.singleRegion: 6_000, .crossRegion: 160_000, .global: 320_000],
            counters: [
                "fsyncs": 6_750, "wal_bytes": 3_500_000, "commits_per_fsync": 1.0, "messages": 20_000,
            ]),
    ]

    /// A run of `shapes` recorded through real recorders with seeded latencies.
    static func make(
        seed: UInt64 = 1, shapes: [VariantShape] = SyntheticRun.shapes,
        runID: String = "20261125-103012-ab12",
        durationSeconds: Double = 30
    ) -> RunResult {
        var rng = SeededRandom(seed: seed)
        let variants = shapes.map { shape -> VariantResult in
            let recorders = (0..<4).map { _ in ClientRecorder() }
            var series: [TimeSeriesPoint] = []
            let seconds = Int(durationSeconds)
            for second in 1...seconds {
                for transferClass in TransferClass.allCases {
                    let total = shape.transfers[transferClass] ?? 0
                    let perSecond = total / seconds + (second <= total % seconds ? 1 : 0)
                    let mean = shape.l2Micros[transferClass] ?? 1_000
                    for index in 0..<perSecond {
                        let recorder = recorders[index % recorders.count]
                        // A long right tail: most near the mean, a few up to 4x.
                        let spread = Double.random(in: 0.7...1.3, using: &rng)
                        let tail =
                            Int.random(in: 0..<100, using: &rng) == 0 ? Double.random(in: 2...4, using: &rng) : 1
                        let l2 = UInt64(mean * spread * tail)
                        let l1 = UInt64(mean * 0.05 * Double.random(in: 0.5...1.5, using: &rng)) + 20
                        let l0 = UInt64(mean * 0.10 * Double.random(in: 0.5...1.5, using: &rng)) + 50
                        let roll = Int.random(in: 0..<1000, using: &rng)
                        let outcome: TransferOutcome =
                            roll < shape.failuresPer1000
                            ? .failed(sqlstate: roll % 2 == 0 ? "40001" : "40P01")
                            : (roll == 999 ? .rejected : .committed)
                        let retried = roll < shape.retriesPer1000
                        recorder.record(
                            transferClass, endToEndMicros: l2 + l1 + l0, l2: l2, l1: l1, l0: l0, outcome: outcome,
                            retries: retried ? 1 : 0, retriedErrors: retried ? ["40001"] : [])
                    }
                }
                series.append(
                    TimeSeriesPoint(second: second, sample: ClientRecorder.takeMergedInterval(recorders)))
            }
            return VariantResult(
                name: shape.name, parameters: shape.parameters, durationSeconds: durationSeconds,
                classes: ClientRecorder.mergedResults(recorders), timeSeries: series,
                counters: shape.counters,
                checks: [
                    CheckResult(
                        name: "conservation", passed: shape.checksPass, detail: "sum 10000000 before and after"),
                    CheckResult(
                        name: "cross_layer_identity", passed: true, detail: "ts = txid = xmin for all versions"),
                ])
        }
        return RunResult(
            specName: "demo", runID: runID, startedAt: "2026-11-25T10:30:12Z",
            spec: "name: demo\nclients: 16\n",
            machine: MachineInfo(
                cores: 2, memoryBytes: 8 << 30, os: "Debian GNU/Linux 12", hostname: "ci-1",
                cpuModel: "Test CPU"),
            versions: ["layerbench": "0.1.0", "swift": "6.3.1"], variants: variants)
    }
}
