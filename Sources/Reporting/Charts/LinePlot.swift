/// The frame both line charts (latency by percentile, TPS over time) draw into: a title, a plot
/// area at a fixed place with the legend to its right, gridlines and ticks on both axes, and
/// axis titles. The charts supply only their scales and their series.
struct LinePlot {
    static let left = 70.0
    static let top = 44.0
    static let width = 560.0

    /// Height of the plot area.
    let height: Double
    let legend: Legend
    var svg: SVGDocument

    var bottom: Double { Self.top + height }
    var right: Double { Self.left + Self.width }

    init(title: String, plotHeight: Double, legend: Legend) {
        height = plotHeight
        self.legend = legend
        svg = SVGDocument(
            width: Self.left + Self.width + 24 + legend.width + 16,
            height: max(Self.top + plotHeight + 56, Self.top + legend.height + 20))
        svg.text(16, 24, title, size: 15, bold: true)
    }

    /// The x coordinate of a fraction (0...1) of the x axis.
    func x(_ fraction: Double) -> Double { Self.left + fraction * Self.width }

    /// The y coordinate of a fraction (0...1) of the y axis.
    func y(_ fraction: Double) -> Double { bottom - fraction * height }

    /// The chart with only `message` in it (nothing was recorded).
    mutating func renderEmpty(_ message: String, title: String) -> String {
        svg.text(Self.left + Self.width / 2, Self.top + height / 2, message, anchor: .middle)
        return svg.render(title: title)
    }

    /// A horizontal gridline at `y` with a tick and `label`; a lighter one without a label.
    mutating func yTick(at y: Double, label: String?) {
        if let label {
            svg.line(Self.left, y, right, y, stroke: ChartStyle.grid)
            svg.line(Self.left - 5, y, Self.left, y, stroke: ChartStyle.axis)
            svg.text(Self.left - 8, y + 4, label, anchor: .end, size: 11)
        } else {
            svg.line(Self.left, y, right, y, stroke: "#f1f1f1")
            svg.line(Self.left - 3, y, Self.left, y, stroke: ChartStyle.axis)
        }
    }

    /// A vertical gridline at `x` with a tick and `label`.
    mutating func xTick(at x: Double, label: String) {
        svg.line(x, Self.top, x, bottom, stroke: ChartStyle.grid)
        svg.line(x, bottom, x, bottom + 5, stroke: ChartStyle.axis)
        svg.text(x, bottom + 18, label, anchor: .middle, size: 11)
    }

    /// The two axis lines and their titles.
    mutating func axes(xTitle: String, yTitle: String) {
        svg.line(Self.left, Self.top, Self.left, bottom, stroke: ChartStyle.axis)
        svg.line(Self.left, bottom, right, bottom, stroke: ChartStyle.axis)
        svg.text(Self.left + Self.width / 2, bottom + 38, xTitle, anchor: .middle, fill: "#555555")
        svg.text(18, Self.top + height / 2, yTitle, anchor: .middle, fill: "#555555", rotate: -90)
    }

    /// Draws the legend and renders the document.
    mutating func render(title: String) -> String {
        legend.draw(into: &svg, x: right + 24, y: Self.top)
        return svg.render(title: title)
    }
}
