/// Why a report could not be written or read. Each case names the path to look at.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// The run directory already exists; run ids are unique, so this is a second write of a run.
    case destinationExists(path: String)
    /// A directory or file could not be created or written.
    case cannotWrite(path: String, reason: String)
    /// A file could not be read.
    case cannotRead(path: String, reason: String)
    /// `run.json` is not a valid run result; `codingPath` names the offending field.
    case invalidRunJSON(path: String, codingPath: String, reason: String)
    /// `run.json` was written by a newer LayerBench.
    case unsupportedFormatVersion(path: String, found: Int, supported: Int)
    /// `results.csv` is malformed at `line` (1-based).
    case invalidCSV(line: Int, reason: String)

    /// What went wrong, with the path and field.
    public var description: String {
        switch self {
        case .destinationExists(let path):
            "\(path) already exists; refusing to overwrite a run directory"
        case .cannotWrite(let path, let reason):
            "cannot write \(path): \(reason)"
        case .cannotRead(let path, let reason):
            "cannot read \(path): \(reason)"
        case .invalidRunJSON(let path, let codingPath, let reason):
            "\(path): \(codingPath.isEmpty ? "" : codingPath + ": ")\(reason)"
        case .unsupportedFormatVersion(let path, let found, let supported):
            "\(path) has run.json format \(found); this build reads up to \(supported)"
        case .invalidCSV(let line, let reason):
            "results.csv line \(line): \(reason)"
        }
    }
}
