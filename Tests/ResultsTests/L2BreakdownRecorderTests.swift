import Foundation
import Testing
import WorkloadSpec

@testable import Results

@Suite("ClientRecorder: L2 breakdown")
struct L2BreakdownRecorderTests {
    static func spans(_ timestamp: UInt64, _ network: UInt64, _ decision: UInt64) -> L2Spans {
        L2Spans([.timestamp: timestamp, .network: network, .decision: decision])
    }

    @Test("committed transfers add their spans per class; rejected and failed ones add none")
    func perClass() throws {
        let recorder = ClientRecorder(region: 1)
        recorder.record(
            .crossRegion, endToEndMicros: 200, l2: 160, l1: 20, l0: 20, outcome: .committed,
            l2Spans: Self.spans(10, 100, 50))
        recorder.record(
            .crossRegion, endToEndMicros: 300, l2: 260, l1: 20, l0: 20, outcome: .committed,
            l2Spans: Self.spans(30, 200, 30))
        recorder.record(
            .crossRegion, endToEndMicros: 300, l2: 260, l1: 20, l0: 20, outcome: .rejected,
            l2Spans: Self.spans(999, 999, 999))
        recorder.record(
            .global, endToEndMicros: 500, l2: 400, l1: 50, l0: 50, outcome: .failed(sqlstate: "40001"),
            l2Spans: Self.spans(999, 999, 999))
        recorder.record(
            .singleRegion, endToEndMicros: 50, l2: 7, l1: 20, l0: 23, outcome: .committed,
            l2Spans: L2Spans([.replication: 7]))
        let results = recorder.results()
        let cross = try #require(results.first { $0.transferClass == .crossRegion })
        #expect(cross.l2Spans.transfers == 2)
        #expect(cross.l2Spans.sums[.timestamp] == 40)
        #expect(cross.l2Spans.meanMicros(.network) == 150)
        #expect(cross.l2Spans.meanMicros(.decision) == 40)
        #expect(cross.l2Spans.meanMicros(.gateway) == 0)
        #expect(cross.l2Spans.meanTotalMicros == 210)
        let global = try #require(results.first { $0.transferClass == .global })
        #expect(global.l2Spans.transfers == 0)
        let single = try #require(results.first { $0.transferClass == .singleRegion })
        #expect(single.l2Spans.transfers == 1)
        #expect(single.l2Spans.meanMicros(.replication) == 7)
    }

    @Test("breakdowns merge across clients and regions as sums, so the means stay exact")
    func merging() throws {
        let a = ClientRecorder(region: 0)
        let b = ClientRecorder(region: 1)
        a.record(.global, endToEndMicros: 10, l2: 10, l1: 0, l0: 0, outcome: .committed, l2Spans: Self.spans(1, 2, 7))
        for _ in 0..<3 {
            b.record(
                .global, endToEndMicros: 30, l2: 30, l1: 0, l0: 0, outcome: .committed,
                l2Spans: Self.spans(5, 20, 5))
        }
        let merged = try #require(ClientRecorder.mergedResults([a, b]).first)
        #expect(merged.l2Spans.transfers == 4)
        #expect(merged.l2Spans.meanMicros(.timestamp) == 4)
        #expect(merged.l2Spans.meanMicros(.network) == 15.5)
        let regions = ClientRecorder.mergedRegionResults([a, b], regions: ["x", "y"])
        #expect(regions[0].classes.first?.l2Spans.transfers == 1)
        #expect(regions[1].classes.first?.l2Spans.meanMicros(.network) == 20)
        a.reset()
        #expect(a.results().isEmpty)
    }

    @Test("the breakdown round-trips through JSON with its means; a class result without it still reads")
    func json() throws {
        let recorder = ClientRecorder()
        recorder.record(
            .crossRegion, endToEndMicros: 200, l2: 160, l1: 20, l0: 20, outcome: .committed,
            l2Spans: Self.spans(10, 100, 50))
        let result = try #require(recorder.results().first)
        let data = try JSONEncoder().encode(result)
        #expect(try JSONDecoder().decode(ClassResult.self, from: data) == result)
        var object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let breakdown = try #require(object["l2Breakdown"] as? [String: Any])
        let means = try #require(breakdown["meanMicros"] as? [String: Double])
        #expect(means["network"] == 100)
        #expect(Set(means.keys) == Set(L2Span.allCases.map(\.rawValue)))
        object["l2Breakdown"] = nil
        let older = try JSONDecoder().decode(
            ClassResult.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(older.l2Spans == L2SpanTotals())
        #expect(older.committed == 1)
    }
}
