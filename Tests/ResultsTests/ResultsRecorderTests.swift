import Foundation
import Histogram
import Storage
import Testing
import WorkloadSpec

@testable import Results

/// The shared seeded generator (SplitMix64), under this suite's name for it.
typealias ResultsSeededRandom = SplitMix64

/// Records `count` committed transfers of `transferClass` whose layers are drawn from `rng`.
func recordCommitted(
    _ recorder: ClientRecorder, _ transferClass: TransferClass, count: Int,
    rng: inout ResultsSeededRandom
) -> [UInt64] {
    var values: [UInt64] = []
    for _ in 0..<count {
        let l2 = UInt64.random(in: 100...5_000, using: &rng)
        let l1 = UInt64.random(in: 10...500, using: &rng)
        let l0 = UInt64.random(in: 50...2_000, using: &rng)
        recorder.record(
            transferClass, endToEndMicros: l2 + l1 + l0, l2: l2, l1: l1, l0: l0, outcome: .committed)
        values.append(l2 + l1 + l0)
    }
    return values
}

@Suite("ClientRecorder")
struct ResultsRecorderTests {
    @Test("counts every outcome, retry and SQLSTATE cumulatively")
    func cumulativeCounts() throws {
        let recorder = ClientRecorder()
        recorder.record(
            .singleRegion, endToEndMicros: 1_000, l2: 100, l1: 300, l0: 600, outcome: .committed)
        recorder.record(
            .singleRegion, endToEndMicros: 2_000, l2: 100, l1: 1_300, l0: 600, outcome: .committed,
            retries: 2,
            retriedErrors: ["40001", "40P01"])
        recorder.record(
            .singleRegion, endToEndMicros: 900, l2: 100, l1: 200, l0: 600, outcome: .rejected)
        recorder.record(
            .crossRegion, endToEndMicros: 150_000, l2: 140_000, l1: 5_000, l0: 5_000,
            outcome: .failed(sqlstate: "40001"), retries: 3, retriedErrors: ["40001", "40001", "40001"])

        let results = recorder.results()
        #expect(results.map(\.transferClass) == [.singleRegion, .crossRegion])
        let single = try #require(results.first)
        #expect(single.committed == 2)
        #expect(single.rejected == 1)
        #expect(single.errors == 0)
        #expect(single.count == 3)
        #expect(single.retries == 2)
        #expect(single.retriedErrors == ["40001": 1, "40P01": 1])
        for layer in MetricLayer.allCases {
            #expect(single.histogram(layer).totalCount == 3, "layer \(layer)")
        }
        #expect(single.failureLatency.totalCount == 0)

        let cross = try #require(results.last)
        #expect(cross.committed == 0)
        #expect(cross.failed == ["40001": 1])
        #expect(cross.retries == 3)
        #expect(cross.retriedErrors == ["40001": 3])
        #expect(cross.histogram(.endToEnd).totalCount == 0)
        #expect(cross.failureLatency.totalCount == 1)
        #expect(cross.errorsPer1000 == 1000)
    }

    @Test(
        "takeInterval returns the interval and starts a new one; cumulative figures keep everything")
    func intervalTakeAndReset() throws {
        let recorder = ClientRecorder()
        var rng = ResultsSeededRandom(seed: 42)
        _ = recordCommitted(recorder, .singleRegion, count: 100, rng: &rng)
        recorder.record(
            .global, endToEndMicros: 5, l2: 1, l1: 2, l0: 2, outcome: .failed(sqlstate: "57P01"),
            retries: 1)

        let first = recorder.takeInterval()
        #expect(first[.singleRegion].committed == 100)
        #expect(first[.singleRegion].latency.totalCount == 100)
        #expect(first[.global].errors == 1)
        #expect(first[.global].retries == 1)
        #expect(first[.crossRegion].isEmpty)

        let second = recorder.takeInterval(recycling: first)
        #expect(second.isEmpty)

        _ = recordCommitted(recorder, .singleRegion, count: 10, rng: &rng)
        let third = recorder.takeInterval(recycling: second)
        #expect(third[.singleRegion].committed == 10)
        #expect(third[.singleRegion].latency.totalCount == 10)

        let cumulative = try #require(recorder.results().first)
        #expect(cumulative.committed == 110)
        #expect(cumulative.histogram(.endToEnd).totalCount == 110)
    }

    @Test("an interval becomes a time-series point with per-class TPS and percentiles")
    func timeSeriesPoint() throws {
        let recorder = ClientRecorder()
        for micros in 1...100 {
            recorder.record(
                .crossRegion, endToEndMicros: UInt64(micros) * 1000, l2: UInt64(micros) * 1000, l1: 0,
                l0: 0,
                outcome: .committed)
        }
        recorder.record(
            .crossRegion, endToEndMicros: 1, l2: 1, l1: 0, l0: 0, outcome: .failed(sqlstate: "40001"))
        let point = TimeSeriesPoint(second: 3, sample: recorder.takeInterval(), intervalSeconds: 2)
        #expect(point.second == 3)
        let cross = try #require(point.point(for: .crossRegion))
        #expect(cross.tps == 50)
        #expect(cross.errors == 1)
        #expect(cross.p50Micros >= 49_900 && cross.p50Micros <= 50_100)
        #expect(cross.p99Micros >= 98_900 && cross.p99Micros <= 99_100)
        #expect(point.classes.count == 1)
        #expect(point.totalTPS == 50)
    }

    // This test pinned HdrHistogram's coordinated-omission correction on open-loop samples (10
    // end-to-end samples for one transfer late by 900 µs at a 100 µs interval). The open loop
    // measures from the intended start, so that correction counted the lag twice; it is gone,
    // and the two counts that pinned it now expect the one sample the transfer is.
    @Test("an open-loop transfer late on its schedule is one sample, with its lag recorded apart")
    func correctedRecording() throws {
        let recorder = ClientRecorder()
        recorder.record(.singleRegion, endToEndMicros: 1_000, l2: 200, l1: 300, l0: 500, outcome: .committed)
        recorder.recordScheduleLag(micros: 900)
        let result = try #require(recorder.results().first)
        #expect(result.committed == 1)
        #expect(result.histogram(.endToEnd).totalCount == 1)
        #expect(result.histogram(.l2).totalCount == 1)
        #expect(recorder.scheduleLag()?.totalCount == 1)
        #expect(recorder.takeInterval()[.singleRegion].latency.totalCount == 1)
    }

    @Test("reset forgets the warm-up")
    func resetForgetsEverything() {
        let recorder = ClientRecorder()
        var rng = ResultsSeededRandom(seed: 7)
        _ = recordCommitted(recorder, .global, count: 20, rng: &rng)
        recorder.recordScheduleLag(micros: 3)
        recorder.reset()
        #expect(recorder.results().isEmpty)
        #expect(recorder.scheduleLag() == nil)
        #expect(recorder.takeInterval().isEmpty)
    }

    @Test(
        "merged recorders add counts and histograms; percentiles equal those of all values together")
    func mergingRecorders() throws {
        var rng = ResultsSeededRandom(seed: 2026)
        let recorders = (0..<4).map { _ in ClientRecorder() }
        var reference = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        for (index, recorder) in recorders.enumerated() {
            for value in recordCommitted(recorder, .crossRegion, count: 500 + index * 100, rng: &rng) {
                reference.record(value)
            }
            recorder.record(
                .crossRegion, endToEndMicros: 10, l2: 5, l1: 3, l0: 2, outcome: .failed(sqlstate: "40001"))
        }
        let merged = ClientRecorder.mergedResults(recorders)
        let cross = try #require(merged.first)
        #expect(merged.count == 1)
        #expect(cross.committed == 500 + 600 + 700 + 800)
        #expect(cross.failed == ["40001": 4])
        #expect(cross.histogram(.endToEnd).totalCount == 2_600)
        #expect(cross.histogram(.l0).totalCount == 2_600)
        #expect(cross.failureLatency.totalCount == 4)
        for percentile in [50.0, 90, 99, 99.9] {
            #expect(cross.percentileMicros(percentile) == reference.valueAtPercentile(percentile))
        }
        #expect(cross.histogram(.endToEnd) == reference)
    }

    @Test("recorders used by concurrent client tasks lose no record")
    func concurrentClients() async throws {
        let recorders = (0..<8).map { _ in ClientRecorder() }
        await withTaskGroup(of: Void.self) { group in
            for (index, recorder) in recorders.enumerated() {
                group.addTask {
                    var rng = ResultsSeededRandom(seed: UInt64(index))
                    _ = recordCommitted(recorder, .singleRegion, count: 1_000, rng: &rng)
                }
            }
            // A reporter taking intervals while the clients record.
            group.addTask {
                for _ in 0..<50 {
                    _ = ClientRecorder.takeMergedInterval(recorders)
                    await Task.yield()
                }
            }
        }
        let total = try #require(ClientRecorder.mergedResults(recorders).first)
        #expect(total.committed == 8_000)
        #expect(total.histogram(.endToEnd).totalCount == 8_000)
    }
}
