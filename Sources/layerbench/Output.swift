import Foundation
import Reporting

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

    /// The terminal's width in columns (0 when standard error is not a terminal).
    static var terminalWidth: Int {
        guard stderrIsTerminal else { return 0 }
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0 else { return 0 }
        return Int(size.ws_col)
    }

    /// Prints a progress line: in place on a terminal (cut to its width, so it never wraps and
    /// leaves no stale line), else as its own line.
    static func progress(_ line: String) {
        if stderrIsTerminal {
            let fitted = ProgressLine.fit(line, width: terminalWidth)
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + fitted).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends an in-place progress line.
    static func endProgress() {
        if stderrIsTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
