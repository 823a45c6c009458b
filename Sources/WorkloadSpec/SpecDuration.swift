/// Durations as a spec writes them: `250us`, `250ms`, `20s`, `2m`, `1h`, `1.5s`, or `0`.
///
/// A spec duration is a Swift `Duration` with microsecond resolution (the resolution of the
/// latency histograms), between zero and ``maximum``. A bare number such as `250` is an error:
/// the unit is never guessed.
public enum SpecDuration {
    /// The longest duration a spec may name: one week. Every wait has a bound.
    public static let maximum: Duration = .seconds(7 * 24 * 3600)

    /// Why a text is not a spec duration: what is wrong and how to write it instead.
    public struct ParseError: Error, Equatable, Sendable {
        /// What is wrong with the text.
        public var message: String
        /// How to write a valid duration.
        public var hint: String

        /// An error with a message and a hint.
        public init(message: String, hint: String) {
            self.message = message
            self.hint = hint
        }
    }

    /// The units a duration may carry, longest first, with their length in microseconds.
    static let units: [(suffix: String, microseconds: Int64)] = [
        ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000), ("us", 1),
    ]

    /// Parses `text` (for example `250ms` or `1.5s`) into a duration.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.specTrimmingSpaces()
        let example = "write a number and a unit (us, ms, s, m, h), e.g. 250ms or 2s"
        if trimmed == "0" { return .zero }
        if trimmed.hasPrefix("-") {
            throw ParseError(message: "'\(text)' is negative", hint: "durations are 0 or more")
        }
        let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unitText = String(trimmed.dropFirst(digits.count))
        guard !digits.isEmpty else {
            throw ParseError(message: "'\(text)' is not a duration", hint: example)
        }
        guard !unitText.isEmpty else {
            throw ParseError(
                message: "'\(text)' has no unit",
                hint: "write \(digits)ms or \(digits)s"
            )
        }
        let unitSuffix = unitText == "µs" ? "us" : unitText
        guard let unit = units.first(where: { $0.suffix == unitSuffix }) else {
            throw ParseError(message: "'\(text)' has an unknown unit '\(unitText)'", hint: example)
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty,
            parts.count == 1 || !parts[1].isEmpty
        else {
            throw ParseError(message: "'\(text)' is not a duration", hint: example)
        }
        let fraction = parts.count == 2 ? parts[1] : ""
        let tooLong = ParseError(message: "'\(text)' is too long", hint: "at most \(format(maximum))")
        guard whole.count <= 12, fraction.count <= 12, let wholeValue = Int64(whole),
            let fractionValue = Int64(fraction.isEmpty ? "0" : fraction)
        else { throw tooLong }
        var scale: Int64 = 1
        for _ in 0..<fraction.count { scale *= 10 }
        let (wholeMicros, overflow) = wholeValue.multipliedReportingOverflow(by: unit.microseconds)
        let (fractionMicros, fractionOverflow) = fractionValue.multipliedReportingOverflow(
            by: unit.microseconds
        )
        guard !overflow, !fractionOverflow else { throw tooLong }
        guard fractionMicros % scale == 0 else {
            throw ParseError(
                message: "'\(text)' is finer than a microsecond",
                hint: "durations have microsecond resolution"
            )
        }
        let duration = Duration.microseconds(wholeMicros + fractionMicros / scale)
        guard duration <= maximum else { throw tooLong }
        return duration
    }

    /// Formats `duration` in the largest unit that states it exactly (`1500ms`, `2s`, `0s`).
    ///
    /// `parse(format(d)) == d` for every duration of whole microseconds up to ``maximum``.
    public static func format(_ duration: Duration) -> String {
        let micros = microseconds(of: duration)
        if micros == 0 { return "0s" }
        let sign = micros < 0 ? "-" : ""
        let magnitude = micros.magnitude
        for unit in units where magnitude % UInt64(unit.microseconds) == 0 {
            return "\(sign)\(magnitude / UInt64(unit.microseconds))\(unit.suffix)"
        }
        return "\(sign)\(magnitude)us"
    }

    /// The whole microseconds in `duration`, truncated toward zero.
    public static func microseconds(of duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func specTrimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(self.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
