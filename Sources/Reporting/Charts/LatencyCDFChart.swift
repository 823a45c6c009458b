import Foundation
import Histogram
import Workload

/// Chart 2: the end-to-end latency distribution of every variant and class, HdrHistogram's
/// percentile plot: x is the percentile on a "number of nines" scale (0, 90, 99, 99.9 %, ...),
/// y the latency in ms on a log scale. Colour marks the variant, dash pattern the class.
enum LatencyCDFChart {
    static func render(_ run: RunResult) -> String {
        struct Series {
            var label: String
            var points: [(nines: Double, ms: Double)]
            var color: String
            var dash: String?
        }
        let maxCount =
            run.variants.flatMap(\.classes).map { $0.histogram(.endToEnd).totalCount }.max() ?? 0
        let maxNines = Double(min(5, max(2, Int(log10(Double(max(maxCount, 1)))))))
        let steps = Int(maxNines * 20)
        var series: [Series] = []
        for (variantIndex, variant) in run.variants.enumerated() {
            for result in variant.classes {
                let histogram = result.histogram(.endToEnd)
                guard histogram.totalCount > 0 else { continue }
                let points = (0...steps).map { step -> (nines: Double, ms: Double) in
                    let nines = Double(step) / 20
                    let percentile = 100 * (1 - pow(10, -nines))
                    let micros = max(1, Double(histogram.valueAtPercentile(percentile)))
                    return (nines, micros / 1000)
                }
                series.append(
                    Series(
                        label: "\(variant.name) · \(result.transferClass.rawValue)", points: points,
                        color: ChartStyle.color(variantIndex),
                        dash: ChartStyle.dash(TransferClass.allCases.firstIndex(of: result.transferClass) ?? 0))
                )
            }
        }

        let legend = Legend(
            entries: series.map { Legend.Entry(label: $0.label, color: $0.color, dash: $0.dash) })
        let left = 70.0
        let top = 44.0
        let plotWidth = 560.0
        let plotHeight = 320.0
        let width = left + plotWidth + 24 + legend.width + 16
        let height = max(top + plotHeight + 56, top + legend.height + 20)
        var svg = SVGDocument(width: width, height: height)
        svg.text(16, 24, "End-to-end latency by percentile", size: 15, bold: true)
        let plotBottom = top + plotHeight
        let plotRight = left + plotWidth
        guard !series.isEmpty else {
            svg.text(left + plotWidth / 2, top + plotHeight / 2, "no transfers recorded", anchor: .middle)
            return svg.render(title: "Latency distribution")
        }

        let values = series.flatMap { $0.points.map(\.ms) }
        let lowDecade = floor(log10(values.min() ?? 0.001))
        var highDecade = ceil(log10(values.max() ?? 1))
        if highDecade <= lowDecade { highDecade = lowDecade + 1 }
        func xPosition(_ nines: Double) -> Double { left + nines / maxNines * plotWidth }
        func yPosition(_ ms: Double) -> Double {
            plotBottom - (log10(ms) - lowDecade) / (highDecade - lowDecade) * plotHeight
        }

        svg.beginGroup()
        var decade = lowDecade
        while decade <= highDecade {
            let y = yPosition(pow(10, decade))
            svg.line(left, y, plotRight, y, stroke: ChartStyle.grid)
            svg.line(left - 5, y, left, y, stroke: ChartStyle.axis)
            svg.text(left - 8, y + 4, Ticks.label(pow(10, decade)), anchor: .end, size: 11)
            if decade < highDecade {
                for minor in [2.0, 5.0] {
                    let minorY = yPosition(minor * pow(10, decade))
                    svg.line(left, minorY, plotRight, minorY, stroke: "#f1f1f1")
                    svg.line(left - 3, minorY, left, minorY, stroke: ChartStyle.axis)
                }
            }
            decade += 1
        }
        for nines in 0...Int(maxNines) {
            let x = xPosition(Double(nines))
            svg.line(x, top, x, plotBottom, stroke: ChartStyle.grid)
            svg.line(x, plotBottom, x, plotBottom + 5, stroke: ChartStyle.axis)
            svg.text(x, plotBottom + 18, percentileLabel(nines), anchor: .middle, size: 11)
        }
        svg.line(left, top, left, plotBottom, stroke: ChartStyle.axis)
        svg.line(left, plotBottom, plotRight, plotBottom, stroke: ChartStyle.axis)
        svg.text(left + plotWidth / 2, plotBottom + 38, "percentile", anchor: .middle, fill: "#555555")
        svg.text(
            18, top + plotHeight / 2, "latency (ms, log scale)", anchor: .middle, fill: "#555555",
            rotate: -90)
        svg.endGroup()

        for item in series {
            svg.beginGroup(series: item.label)
            svg.polyline(
                item.points.map { (xPosition($0.nines), yPosition($0.ms)) }, stroke: item.color,
                dash: item.dash)
            svg.endGroup()
        }
        legend.draw(into: &svg, x: plotRight + 24, y: top)
        return svg.render(title: "Latency distribution")
    }

    static func percentileLabel(_ nines: Int) -> String {
        if nines == 0 { return "0 %" }
        if nines == 1 { return "90 %" }
        return "99" + (nines > 2 ? "." + String(repeating: "9", count: nines - 2) : "") + " %"
    }
}
