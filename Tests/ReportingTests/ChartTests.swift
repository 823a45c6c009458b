import Foundation
import Results
import Testing
import WorkloadSpec

@testable import Reporting

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Collects what the charts' tests look at while parsing an SVG document.
final class SVGInspector: NSObject, XMLParserDelegate {
    var rootName: String?
    var rootAttributes: [String: String] = [:]
    var series: [String] = []
    var texts: [String] = []
    private var inText = false

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if rootName == nil {
            rootName = elementName
            rootAttributes = attributes
        }
        if elementName == "g", attributes["class"] == "series", let name = attributes["data-series"] {
            series.append(name)
        }
        if elementName == "text" {
            inText = true
            texts.append("")
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText, !texts.isEmpty { texts[texts.count - 1] += string }
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
        qualifiedName: String?
    ) {
        if elementName == "text" { inText = false }
    }

    /// Parses `svg`; `nil` when it is not well-formed XML.
    static func inspect(_ svg: String) -> SVGInspector? {
        let parser = XMLParser(data: Data(svg.utf8))
        let inspector = SVGInspector()
        parser.delegate = inspector
        return parser.parse() ? inspector : nil
    }
}

@Suite("SVG charts")
struct ChartTests {
    static let run = SyntheticRun.standard

    func checkDocument(_ svg: String) throws -> SVGInspector {
        let inspector = try #require(SVGInspector.inspect(svg), "not well-formed XML")
        #expect(inspector.rootName == "svg")
        #expect(inspector.rootAttributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(inspector.rootAttributes["font-family"] == "sans-serif")
        let width = try #require(inspector.rootAttributes["width"].flatMap(Double.init))
        let height = try #require(inspector.rootAttributes["height"].flatMap(Double.init))
        #expect(inspector.rootAttributes["viewBox"] == "0 0 \(Int(width)) \(Int(height))")
        return inspector
    }

    @Test("throughput chart: well-formed, one series per variant, axis labels and a legend")
    func throughput() throws {
        let inspector = try checkDocument(ReportCharts.throughput(Self.run))
        #expect(inspector.series == Self.run.variants.map(\.name))
        #expect(inspector.texts.contains("seconds since warm-up"))
        for variant in Self.run.variants {
            #expect(inspector.texts.contains(variant.name), "legend entry \(variant.name)")
        }
    }

    @Test("latency distribution: one series per variant and class, percentile ticks")
    func distribution() throws {
        let inspector = try checkDocument(ReportCharts.latencyDistribution(Self.run))
        let expected = Self.run.variants.flatMap { variant in
            variant.classes.map { "\(variant.name) · \($0.transferClass.rawValue)" }
        }
        #expect(inspector.series == expected)
        #expect(inspector.texts.contains("99 %"))
        #expect(inspector.texts.contains("percentile"))
        for variant in Self.run.variants {
            #expect(inspector.series.contains { $0.hasPrefix(variant.name + " ") })
        }
    }

    @Test("per-layer chart: one bar per variant in every class panel, layer legend")
    func layers() throws {
        let inspector = try checkDocument(ReportCharts.layerBreakdown(Self.run))
        #expect(inspector.series.count == Self.run.variants.reduce(0) { $0 + $1.classes.count })
        for name in [
            "L2 distributed", "L1 runtime", "L0 storage", "single_region", "cross_region", "global",
        ] {
            #expect(inspector.texts.contains(name))
        }
    }

    @Test("names with markup characters are escaped; empty runs still render")
    func escapingAndEmpty() throws {
        var run = Self.run
        run.variants[0].name = "a<b & \"c\""
        for svg in [
            ReportCharts.throughput(run), ReportCharts.latencyDistribution(run),
            ReportCharts.layerBreakdown(run),
        ] {
            let inspector = try checkDocument(svg)
            #expect(inspector.series.contains { $0.hasPrefix("a<b & \"c\"") })
        }
        var empty = Self.run
        empty.variants = []
        for svg in [
            ReportCharts.throughput(empty), ReportCharts.latencyDistribution(empty),
            ReportCharts.layerBreakdown(empty),
        ] {
            _ = try checkDocument(svg)
        }
    }
}
