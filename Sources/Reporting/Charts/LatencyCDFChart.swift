import Foundation
import Histogram
import Results
import WorkloadSpec

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
        var plot = LinePlot(title: "End-to-end latency by percentile", plotHeight: 320, legend: legend)
        guard !series.isEmpty else {
            return plot.renderEmpty("no transfers recorded", title: "Latency distribution")
        }

        let values = series.flatMap { $0.points.map(\.ms) }
        let lowDecade = floor(log10(values.min() ?? 0.001))
        var highDecade = ceil(log10(values.max() ?? 1))
        if highDecade <= lowDecade { highDecade = lowDecade + 1 }
        func xPosition(_ nines: Double) -> Double { plot.x(nines / maxNines) }
        func yPosition(_ ms: Double) -> Double { plot.y((log10(ms) - lowDecade) / (highDecade - lowDecade)) }

        plot.svg.beginGroup()
        var decade = lowDecade
        while decade <= highDecade {
            plot.yTick(at: yPosition(pow(10, decade)), label: Ticks.label(pow(10, decade)))
            if decade < highDecade {
                for minor in [2.0, 5.0] { plot.yTick(at: yPosition(minor * pow(10, decade)), label: nil) }
            }
            decade += 1
        }
        for nines in 0...Int(maxNines) {
            plot.xTick(at: xPosition(Double(nines)), label: percentileLabel(nines))
        }
        plot.axes(xTitle: "percentile", yTitle: "latency (ms, log scale)")
        plot.svg.endGroup()

        for item in series {
            plot.svg.beginGroup(series: item.label)
            plot.svg.polyline(
                item.points.map { (xPosition($0.nines), yPosition($0.ms)) }, stroke: item.color, dash: item.dash)
            plot.svg.endGroup()
        }
        return plot.render(title: "Latency distribution")
    }

    static func percentileLabel(_ nines: Int) -> String {
        if nines == 0 { return "0 %" }
        if nines == 1 { return "90 %" }
        return "99" + (nines > 2 ? "." + String(repeating: "9", count: nines - 2) : "") + " %"
    }
}
