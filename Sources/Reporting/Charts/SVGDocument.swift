import Foundation
import Results

/// A hand-written SVG document: no dependencies, renders in browsers, on GitHub and with
/// `rsvg-convert`. Coordinates in pixels, origin top left.
struct SVGDocument {
    /// Where a text's anchor point sits in it.
    enum Anchor: String {
        case start, middle, end
    }

    let width: Double
    let height: Double
    private(set) var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width.rounded(.up)
        self.height = height.rounded(.up)
    }

    /// The document, with an XML declaration, `xmlns`, size, `viewBox`, a white background.
    func render(title: String) -> String {
        let w = Self.n(width)
        let h = Self.n(height)
        var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        text += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" "
        text += "viewBox=\"0 0 \(w) \(h)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        text += "<title>\(Self.escape(title))</title>\n"
        text += "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>\n"
        text += body.joined(separator: "\n")
        text += "\n</svg>\n"
        return text
    }

    mutating func raw(_ element: String) {
        body.append(element)
    }

    mutating func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#333333",
        width: Double = 1,
        dash: String? = nil
    ) {
        var element =
            "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" "
        element += "stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        body.append(element + "/>")
    }

    mutating func rect(
        _ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String,
        stroke: String? = nil,
        tooltip: String? = nil
    ) {
        var element = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(0, width)))\" "
        element += "height=\"\(Self.n(max(0, height)))\" fill=\"\(fill)\""
        if let stroke { element += " stroke=\"\(stroke)\"" }
        if let tooltip {
            body.append(element + "><title>\(Self.escape(tooltip))</title></rect>")
        } else {
            body.append(element + "/>")
        }
    }

    mutating func circle(_ x: Double, _ y: Double, radius: Double, fill: String) {
        body.append(
            "<circle cx=\"\(Self.n(x))\" cy=\"\(Self.n(y))\" r=\"\(Self.n(radius))\" fill=\"\(fill)\"/>")
    }

    mutating func text(
        _ x: Double, _ y: Double, _ string: String, anchor: Anchor = .start, size: Double = 12,
        bold: Bool = false,
        fill: String = "#222222", rotate: Double? = nil
    ) {
        var element = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" text-anchor=\"\(anchor.rawValue)\""
        if size != 12 { element += " font-size=\"\(Self.n(size))\"" }
        if bold { element += " font-weight=\"bold\"" }
        if fill != "#222222" { element += " fill=\"\(fill)\"" }
        if let rotate {
            element += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(x)) \(Self.n(y)))\""
        }
        body.append(element + ">\(Self.escape(string))</text>")
    }

    mutating func polyline(
        _ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil
    ) {
        let coordinates = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        var element = "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(stroke)\" "
        element += "stroke-width=\"\(Self.n(width))\" stroke-linejoin=\"round\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        body.append(element + "/>")
    }

    /// Opens a group; `series` tags it as one data series (`class="series"`, `data-series`).
    mutating func beginGroup(series: String? = nil) {
        if let series {
            body.append("<g class=\"series\" data-series=\"\(Self.escape(series))\">")
        } else {
            body.append("<g>")
        }
    }

    mutating func endGroup() {
        body.append("</g>")
    }

    /// A number for an attribute: at most two decimals, no exponent.
    static func n(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int64(rounded)) }
        return String(format: "%.2f", locale: Locale(identifier: "en_US_POSIX"), rounded)
    }

    /// Escapes text and attribute values.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Approximate width in pixels of `text` in the 12 px sans-serif used here.
    static func textWidth(_ text: String, size: Double = 12) -> Double {
        Double(text.count) * size * 0.6
    }
}

/// Colours and dash patterns shared by the charts (Tableau 10, readable on white and for most
/// colour-blind readers when combined with the dash patterns).
enum ChartStyle {
    static let palette = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
        "#9c755f",
        "#bab0ac",
    ]
    static let layerColors: [MetricLayer: String] = [.l2: "#4e79a7", .l1: "#f28e2b", .l0: "#59a14f"]
    static let dashes: [String?] = [nil, "8 4", "2 3", "10 3 2 3"]
    static let grid = "#e3e3e3"
    static let axis = "#555555"

    static func color(_ index: Int) -> String { palette[index % palette.count] }
    static func dash(_ index: Int) -> String? { dashes[index % dashes.count] }
}

/// Tick positions for chart axes.
enum Ticks {
    /// About `count` round ticks (1, 2, 5 x 10^k steps) covering `0...max`.
    static func linear(upTo maximum: Double, count: Int = 5) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let rough = maximum / Double(max(1, count))
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? rough
        var ticks: [Double] = []
        var value = 0.0
        while value < maximum + step * 0.999 {
            ticks.append(value)
            value += step
        }
        return ticks
    }

    /// A tick label without trailing zeros: `0`, `2.5`, `1000`, `0.001`.
    static func label(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var text = String(format: "%.3f", locale: Locale(identifier: "en_US_POSIX"), value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A large count as a short label: `950`, `12k`, `1.5M`.
    static func shortCount(_ value: Double) -> String {
        if value >= 1_000_000 { return label((value / 100_000).rounded() / 10) + "M" }
        if value >= 10_000 { return label((value / 1000).rounded()) + "k" }
        if value >= 1000 { return label((value / 100).rounded() / 10) + "k" }
        return label(value)
    }
}
