import Foundation
import Histogram
import Results
import Testing

@testable import Reporting

@Suite("run.json")
struct RunResultJSONTests {
    @Test("encode then decode gives an equal run with identical histograms")
    func roundTrip() throws {
        let run = SyntheticRun.standard
        let data = try run.jsonData()
        let decoded = try RunResult.decode(data)
        #expect(decoded == run)
        for (original, copy) in zip(run.variants, decoded.variants) {
            for (a, b) in zip(original.classes, copy.classes) {
                for layer in MetricLayer.allCases {
                    #expect(a.histogram(layer) == b.histogram(layer))
                    #expect(a.percentileMicros(99.9, layer: layer) == b.percentileMicros(99.9, layer: layer))
                }
            }
        }
        // Sorted keys and pretty printing make the file stable: encoding twice gives the same bytes.
        #expect(try decoded.jsonData() == data)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\n  \"formatVersion\" : 1,"))
    }

    @Test("load reads a run directory or a JSON file and names the bad field")
    func load() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lb-json-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = SyntheticRun.standard
        try ReportWriter().write(run, to: directory)
        #expect(try RunResult.load(from: directory) == run)
        #expect(try RunResult.load(fromPath: directory.appendingPathComponent("run.json").path) == run)

        let broken = directory.appendingPathComponent("broken.json")
        let text = String(decoding: try run.jsonData(), as: UTF8.self)
            .replacingOccurrences(of: "\"committed\" : ", with: "\"committed\" : \"x\", \"was\" : ")
        try Data(text.utf8).write(to: broken)
        do {
            _ = try RunResult.load(from: broken)
            Issue.record("a corrupt run.json loaded")
        } catch let error as ReportError {
            guard case .invalidRunJSON(_, let codingPath, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(codingPath.hasPrefix("variants[0].classes[0]"))
        }

        let future = directory.appendingPathComponent("future.json")
        try Data(#"{"formatVersion": 99}"#.utf8).write(to: future)
        #expect(
            throws: ReportError.unsupportedFormatVersion(path: future.path, found: 99, supported: 1)
        ) {
            try RunResult.load(from: future)
        }
        #expect(throws: ReportError.self) {
            try RunResult.load(from: directory.appendingPathComponent("missing.json"))
        }
    }
}
