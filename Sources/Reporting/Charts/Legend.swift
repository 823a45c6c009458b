/// A legend drawn as a column of line samples and labels.
struct Legend {
    struct Entry {
        var label: String
        var color: String
        var dash: String?
    }

    var entries: [Entry]

    static let rowHeight = 18.0

    var width: Double { (entries.map { SVGDocument.textWidth($0.label) }.max() ?? 0) + 44 }
    var height: Double { Double(entries.count) * Self.rowHeight + 8 }

    func draw(into svg: inout SVGDocument, x: Double, y: Double) {
        svg.beginGroup()
        for (index, entry) in entries.enumerated() {
            let rowY = y + Double(index) * Self.rowHeight
            svg.line(x, rowY + 9, x + 26, rowY + 9, stroke: entry.color, width: 2.5, dash: entry.dash)
            svg.text(x + 32, rowY + 13, entry.label)
        }
        svg.endGroup()
    }
}
