import Results
import WorkloadSpec

/// The live one-line progress report a driver prints once a second.
public enum ProgressLine {
    /// For example `[batch-on] 12s 10250 tps | single_region 9800 tps p50 1.20 p99 3.40 ms | errors 0 retries 3`.
    public static func render(variant: String, point: TimeSeriesPoint) -> String {
        var parts = ["[\(variant)] \(point.second)s \(Format.number(point.totalTPS.rounded())) tps"]
        for classPoint in point.classes {
            parts.append(
                "\(classPoint.transferClass.rawValue) \(Format.number(classPoint.tps.rounded())) tps "
                    + "p50 \(Format.millis(classPoint.p50Micros)) p99 \(Format.millis(classPoint.p99Micros)) ms"
            )
        }
        let errors = point.classes.reduce(0) { $0 + $1.errors }
        let retries = point.classes.reduce(0) { $0 + $1.retries }
        parts.append("errors \(errors) retries \(retries)")
        return parts.joined(separator: " | ")
    }

    /// `line` cut to `width - 1` characters (ending in `…` when cut), so that rewriting it in
    /// place on a terminal of that width never wraps and never leaves a stale line behind. A
    /// width of 0 (unknown) leaves the line whole.
    public static func fit(_ line: String, width: Int) -> String {
        guard width > 1, line.count > width - 1 else { return line }
        return String(line.prefix(width - 2)) + "…"
    }
}
