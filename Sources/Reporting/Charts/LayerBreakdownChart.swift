import Histogram
import Results
import WorkloadSpec

/// Chart 1: mean end-to-end latency of each variant split into its L2, L1 and L0 shares, one
/// panel per transfer class (classes differ by orders of magnitude, so each has its own scale),
/// with the mean and p99 written beside each bar.
///
/// Means add up (`l2 + l1 + l0 == e2e` per transfer, so also on average); percentiles do not,
/// which is why the bars stack means and p99 is given as a number.
enum LayerBreakdownChart {
    static let layers: [MetricLayer] = [.l2, .l1, .l0]
    static let layerNames: [MetricLayer: String] = [
        .l2: "L2 distributed", .l1: "L1 runtime", .l0: "L0 storage",
    ]

    static func render(_ run: RunResult) -> String {
        let classes = TransferClass.allCases.filter { transferClass in
            run.variants.contains { $0.result(for: transferClass) != nil }
        }
        let variantLabelWidth = run.variants.map { SVGDocument.textWidth($0.name) }.max() ?? 60
        let left = max(110, variantLabelWidth + 20)
        let plotWidth = 520.0
        let annotationWidth = 200.0
        let width = left + plotWidth + annotationWidth
        let barHeight = 18.0
        let barGap = 8.0
        let top = 74.0
        let panelHeights = classes.map { transferClass in
            let bars = run.variants.filter { $0.result(for: transferClass) != nil }.count
            return 26 + Double(bars) * (barHeight + barGap) + 40
        }
        let height = top + panelHeights.reduce(0, +) + 10

        var svg = SVGDocument(width: width, height: max(height, 140))
        svg.text(16, 24, "Mean end-to-end latency by layer, per class", size: 15, bold: true)
        var legendX = 16.0
        for layer in layers {
            let color = ChartStyle.layerColors[layer] ?? "#999999"
            let name = layerNames[layer] ?? layer.rawValue
            svg.rect(legendX, 38, 14, 14, fill: color)
            svg.text(legendX + 20, 50, name)
            legendX += 20 + SVGDocument.textWidth(name) + 24
        }
        svg.text(left + plotWidth + 12, 50, "e2e mean / p99 (ms)", fill: "#555555")
        if classes.isEmpty {
            svg.text(width / 2, top + 30, "no transfers recorded", anchor: .middle)
            return svg.render(title: "Per-layer latency")
        }

        var y = top
        for (panel, transferClass) in classes.enumerated() {
            let rows = run.variants.compactMap { variant in
                variant.result(for: transferClass).map { (variant.name, $0) }
            }
            let maximum = rows.map { $0.1.meanMicros(layer: .endToEnd) / 1000 }.max() ?? 0
            let ticks = Ticks.linear(upTo: maximum > 0 ? maximum : 1)
            let scaleMax = ticks.last ?? 1
            let scale = plotWidth / scaleMax
            svg.text(16, y + 16, transferClass.rawValue, size: 13, bold: true)
            let plotTop = y + 26
            let plotBottom = plotTop + Double(rows.count) * (barHeight + barGap)
            svg.beginGroup()
            for tick in ticks {
                let x = left + tick * scale
                svg.line(x, plotTop - 4, x, plotBottom, stroke: ChartStyle.grid)
                svg.line(x, plotBottom, x, plotBottom + 5, stroke: ChartStyle.axis)
                svg.text(x, plotBottom + 18, Ticks.label(tick), anchor: .middle, size: 11)
            }
            svg.line(left, plotBottom, left + plotWidth, plotBottom, stroke: ChartStyle.axis)
            svg.line(left, plotTop - 4, left, plotBottom, stroke: ChartStyle.axis)
            svg.text(
                left + plotWidth, plotBottom + 32, "mean latency (ms)", anchor: .end, size: 11,
                fill: "#555555")
            svg.endGroup()
            for (index, (variantName, result)) in rows.enumerated() {
                let barY = plotTop + Double(index) * (barHeight + barGap) + barGap / 2
                svg.beginGroup(series: "\(variantName)/\(transferClass.rawValue)")
                svg.text(left - 8, barY + barHeight - 4, variantName, anchor: .end)
                var x = left
                for layer in layers {
                    let meanMs = result.meanMicros(layer: layer) / 1000
                    let share =
                        result.meanMicros(layer: .endToEnd) > 0
                        ? result.meanMicros(layer: layer) / result.meanMicros(layer: .endToEnd) * 100 : 0
                    let barWidth = meanMs * scale
                    svg.rect(
                        x, barY, barWidth, barHeight, fill: ChartStyle.layerColors[layer] ?? "#999999",
                        tooltip:
                            "\(layerNames[layer] ?? layer.rawValue): \(Format.millis(result.meanMicros(layer: layer))) ms (\(Format.fixed(share, 0)) %)"
                    )
                    x += barWidth
                }
                let annotation =
                    "\(Format.millis(result.meanMicros(layer: .endToEnd))) / "
                    + "\(Format.millis(result.percentileMicros(99, layer: .endToEnd)))"
                svg.text(left + plotWidth + 12, barY + barHeight - 4, annotation)
                svg.endGroup()
            }
            y += panelHeights[panel]
        }
        return svg.render(title: "Per-layer latency")
    }
}
