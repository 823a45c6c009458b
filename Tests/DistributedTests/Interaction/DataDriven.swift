/// etcd's (cockroachdb/datadriven) file format: a test is a command line, a `----` line and the expected
/// output, ended by a blank line. Lines starting with `#` between tests are comments.
struct DataDrivenCase {
    /// 1-based line of the command.
    let line: Int
    let command: String
    let arguments: [DataDrivenArgument]
    let expected: String
    /// The 0-based line indexes of the expected output (replaced when the file is rewritten).
    let outputLines: Range<Int>
}

/// One argument: `2`, `drop=(3)`, `voters=(1,2,3)`, `to=3`.
struct DataDrivenArgument: Equatable {
    let key: String
    let values: [String]
}

enum DataDriven {
    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    static func parse(_ text: String) throws -> [DataDrivenCase] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var cases: [DataDrivenCase] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.trimmingSpaces.isEmpty || line.hasPrefix("#") {
                i += 1
                continue
            }
            let commandLine = line
            let start = i + 1
            i += 1
            guard i < lines.count, lines[i] == "----" else {
                throw ParseError(line: start, reason: "expected ---- after the command")
            }
            i += 1
            let outputStart = i
            var output: [String] = []
            while i < lines.count, !lines[i].isEmpty {
                output.append(lines[i])
                i += 1
            }
            let (command, arguments) = try parseCommand(commandLine, line: start)
            cases.append(
                DataDrivenCase(
                    line: start, command: command, arguments: arguments,
                    expected: output.joined(separator: "\n"), outputLines: outputStart..<i))
        }
        return cases
    }

    private static func parseCommand(_ text: String, line: Int) throws -> (String, [DataDrivenArgument]) {
        let words = text.split(separator: " ").map(String.init)
        guard let command = words.first else { throw ParseError(line: line, reason: "empty command") }
        let arguments = try words.dropFirst().map { word -> DataDrivenArgument in
            guard let equals = word.firstIndex(of: "=") else { return DataDrivenArgument(key: word, values: []) }
            let key = String(word[..<equals])
            var value = String(word[word.index(after: equals)...])
            if value.hasPrefix("(") {
                guard value.hasSuffix(")") else { throw ParseError(line: line, reason: "unclosed ( in \(word)") }
                value = String(value.dropFirst().dropLast())
                return DataDrivenArgument(key: key, values: value.split(separator: ",").map(String.init))
            }
            return DataDrivenArgument(key: key, values: [value])
        }
        return (command, arguments)
    }

    /// `text` with every expected output replaced by the actual one (comments and commands kept).
    static func rewrite(_ text: String, _ results: [(DataDrivenCase, String)]) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (c, actual) in results.reversed() {
            let replacement = actual.isEmpty ? [] : actual.split(separator: "\n").map(String.init)
            lines.replaceSubrange(c.outputLines, with: replacement)
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
