import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writing to standard error, and the live progress line (rewritten in place on a terminal,
/// plain lines otherwise, as `cockroach workload` does).
enum Output {
    static let stderrIsTerminal = isatty(2) == 1

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Prints a progress line: in place on a terminal, else as its own line.
    static func progress(_ line: String) {
        if stderrIsTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends an in-place progress line.
    static func endProgress() {
        if stderrIsTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
