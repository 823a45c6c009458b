import Results

/// Chart 3: committed transfers per second over the measured window, one line per variant.
enum ThroughputChart {
    static func render(_ run: RunResult) -> String {
        let variants = run.variants.enumerated().filter { !$0.element.timeSeries.isEmpty }
        let legend = Legend(
            entries: variants.map {
                Legend.Entry(label: $0.element.name, color: ChartStyle.color($0.offset))
            })
        var plot = LinePlot(
            title: "Throughput over time (committed transfers per second)", plotHeight: 280, legend: legend)
        guard !variants.isEmpty else {
            return plot.renderEmpty("no time series recorded", title: "Throughput over time")
        }
        let maxSecond = Double(variants.flatMap { $0.element.timeSeries.map(\.second) }.max() ?? 1)
        let maxTPS = variants.flatMap { $0.element.timeSeries.map(\.totalTPS) }.max() ?? 1
        let xTicks = Ticks.linear(upTo: max(1, maxSecond), count: 8)
        let yTicks = Ticks.linear(upTo: maxTPS > 0 ? maxTPS : 1, count: 5)
        let xMax = xTicks.last ?? 1
        let yMax = yTicks.last ?? 1
        func xPosition(_ second: Double) -> Double { plot.x(second / xMax) }
        func yPosition(_ tps: Double) -> Double { plot.y(tps / yMax) }

        plot.svg.beginGroup()
        for tick in yTicks { plot.yTick(at: yPosition(tick), label: Ticks.shortCount(tick)) }
        for tick in xTicks { plot.xTick(at: xPosition(tick), label: Ticks.label(tick)) }
        plot.axes(xTitle: "seconds since warm-up", yTitle: "TPS")
        plot.svg.endGroup()

        for (index, variant) in variants {
            let points = variant.timeSeries.map { (xPosition(Double($0.second)), yPosition($0.totalTPS)) }
            plot.svg.beginGroup(series: variant.name)
            if points.count == 1, let point = points.first {
                plot.svg.circle(point.0, point.1, radius: 3, fill: ChartStyle.color(index))
            } else {
                plot.svg.polyline(points, stroke: ChartStyle.color(index))
            }
            plot.svg.endGroup()
        }
        return plot.render(title: "Throughput over time")
    }
}
