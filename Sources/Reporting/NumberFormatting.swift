import Foundation

/// Locale-independent number formatting for reports (a report must read the same everywhere).
enum Format {
    /// `value` with exactly `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "inf" : "-inf") }
        return String(format: "%.\(digits)f", locale: Locale(identifier: "en_US_POSIX"), value)
    }

    /// Microseconds as milliseconds with three significant-ish decimals: `0.042`, `1.25`, `150.3`.
    static func millis(_ micros: Double) -> String {
        let ms = micros / 1000
        if ms == 0 { return "0" }
        if abs(ms) < 1 { return fixed(ms, 3) }
        if abs(ms) < 100 { return fixed(ms, 2) }
        return fixed(ms, 1)
    }

    /// Microseconds as milliseconds.
    static func millis(_ micros: UInt64) -> String { millis(Double(micros)) }

    /// A rate, count or ratio with about four significant digits and no trailing zeros:
    /// `12345`, `149.5`, `16.67`, `1.004`, `0.1114`. No digit grouping, so CSV and markdown
    /// cells stay machine-readable.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return fixed(value, 0) }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        let magnitude = abs(value)
        let digits: Int
        if magnitude >= 1000 {
            digits = 0
        } else if magnitude >= 1 {
            digits = 3 - Int(log10(magnitude))
        } else {
            digits = min(12, 3 - Int(floor(log10(magnitude))))
        }
        var text = fixed(value, digits)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    /// A signed percentage: `+12.3 %`, `-93.0 %`, `n/a` when the base is zero.
    static func percentChange(from base: Double, to value: Double) -> String {
        guard let change = Delta.percent(from: base, to: value) else {
            return value == base ? "0.0 %" : "n/a"
        }
        return signedPercent(change)
    }

    /// A signed percentage of an already computed change.
    static func signedPercent(_ change: Double) -> String {
        (change >= 0 ? "+" : "") + fixed(change, 1) + " %"
    }

    /// Escapes a markdown table cell.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

/// Relative change between two measurements.
enum Delta {
    /// `(value - base) / |base| * 100`, or `nil` when `base` is zero.
    static func percent(from base: Double, to value: Double) -> Double? {
        guard base != 0, base.isFinite, value.isFinite else { return nil }
        return (value - base) / abs(base) * 100
    }
}
