import Workload

/// Chart 3: committed transfers per second over the measured window, one line per variant.
enum ThroughputChart {
    static func render(_ run: RunResult) -> String {
        let variants = run.variants.enumerated().filter { !$0.element.timeSeries.isEmpty }
        let legend = Legend(
            entries: variants.map {
                Legend.Entry(label: $0.element.name, color: ChartStyle.color($0.offset))
            })
        let left = 70.0
        let top = 44.0
        let plotWidth = 560.0
        let plotHeight = 280.0
        let width = left + plotWidth + 24 + legend.width + 16
        let height = max(top + plotHeight + 56, top + legend.height + 20)
        var svg = SVGDocument(width: width, height: height)
        svg.text(16, 24, "Throughput over time (committed transfers per second)", size: 15, bold: true)
        let plotBottom = top + plotHeight
        let plotRight = left + plotWidth
        guard !variants.isEmpty else {
            svg.text(
                left + plotWidth / 2, top + plotHeight / 2, "no time series recorded", anchor: .middle)
            return svg.render(title: "Throughput over time")
        }

        let maxSecond = Double(variants.flatMap { $0.element.timeSeries.map(\.second) }.max() ?? 1)
        let maxTPS = variants.flatMap { $0.element.timeSeries.map(\.totalTPS) }.max() ?? 1
        let xTicks = Ticks.linear(upTo: max(1, maxSecond), count: 8)
        let yTicks = Ticks.linear(upTo: maxTPS > 0 ? maxTPS : 1, count: 5)
        let xMax = xTicks.last ?? 1
        let yMax = yTicks.last ?? 1
        func xPosition(_ second: Double) -> Double { left + second / xMax * plotWidth }
        func yPosition(_ tps: Double) -> Double { plotBottom - tps / yMax * plotHeight }

        svg.beginGroup()
        for tick in yTicks {
            let y = yPosition(tick)
            svg.line(left, y, plotRight, y, stroke: ChartStyle.grid)
            svg.line(left - 5, y, left, y, stroke: ChartStyle.axis)
            svg.text(left - 8, y + 4, Ticks.shortCount(tick), anchor: .end, size: 11)
        }
        for tick in xTicks {
            let x = xPosition(tick)
            svg.line(x, top, x, plotBottom, stroke: ChartStyle.grid)
            svg.line(x, plotBottom, x, plotBottom + 5, stroke: ChartStyle.axis)
            svg.text(x, plotBottom + 18, Ticks.label(tick), anchor: .middle, size: 11)
        }
        svg.line(left, top, left, plotBottom, stroke: ChartStyle.axis)
        svg.line(left, plotBottom, plotRight, plotBottom, stroke: ChartStyle.axis)
        svg.text(
            left + plotWidth / 2, plotBottom + 38, "seconds since warm-up", anchor: .middle,
            fill: "#555555")
        svg.text(18, top + plotHeight / 2, "TPS", anchor: .middle, fill: "#555555", rotate: -90)
        svg.endGroup()

        for (index, variant) in variants {
            let points = variant.timeSeries.map { (xPosition(Double($0.second)), yPosition($0.totalTPS)) }
            svg.beginGroup(series: variant.name)
            if points.count == 1, let point = points.first {
                svg.circle(point.0, point.1, radius: 3, fill: ChartStyle.color(index))
            } else {
                svg.polyline(points, stroke: ChartStyle.color(index))
            }
            svg.endGroup()
        }
        legend.draw(into: &svg, x: plotRight + 24, y: top)
        return svg.render(title: "Throughput over time")
    }
}
