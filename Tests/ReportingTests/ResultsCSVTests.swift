import Histogram
import Results
import Testing
import WorkloadSpec

@testable import Reporting

@Suite("results.csv")
struct ResultsCSVTests {
    @Test("one row per variant x class x layer, which parses back to the same numbers")
    func rowsParseBack() throws {
        let run = SyntheticRun.standard
        let text = ResultsCSV.render(run)
        let lines = text.split(separator: "\n")
        #expect(
            lines.first
                == "variant,region,class,layer,count,tps,mean_us,p50_us,p90_us,p99_us,p999_us,max_us,errors,retries"
        )
        let classCount = run.variants.reduce(0) { $0 + $1.classes.count }
        #expect(lines.count == 1 + classCount * 4)

        let rows = try ResultsCSV.parse(text)
        #expect(rows == ResultsCSV.rows(run))
        let row = try #require(
            rows.first { $0.variant == "batch-on" && $0.transferClass == .crossRegion && $0.layer == .l0 }
        )
        let result = try #require(run.variant(named: "batch-on")?.result(for: .crossRegion))
        #expect(row.count == result.histogram(.l0).totalCount)
        #expect(row.p99Micros == result.percentileMicros(99, layer: .l0))
        #expect(row.errors == result.errors)
        #expect(row.retries == result.retries)
        #expect(abs(row.tps - result.tps(durationSeconds: 30)) < 0.001)
        #expect(Set(rows.map(\.layer)) == Set(MetricLayer.allCases))
    }

    @Test("variant names with commas and quotes survive quoting")
    func quoting() throws {
        var run = SyntheticRun.standard
        run.variants[0].name = "odd, \"quoted\" name"
        let rows = try ResultsCSV.parse(ResultsCSV.render(run))
        #expect(rows.first?.variant == "odd, \"quoted\" name")
    }

    @Test("a malformed file names the line")
    func malformed() {
        let header = ResultsCSV.columns.joined(separator: ",")
        #expect(throws: ReportError.invalidCSV(line: 2, reason: "unknown class 'nowhere'")) {
            try ResultsCSV.parse(header + "\nv,all,nowhere,e2e,1,1,1,1,1,1,1,1,0,0\n")
        }
        #expect(throws: ReportError.self) { try ResultsCSV.parse(header + "\nv,global,e2e,1\n") }
        #expect(throws: ReportError.self) { try ResultsCSV.parse("") }
    }
}
