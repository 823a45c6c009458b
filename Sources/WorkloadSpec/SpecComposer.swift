import Yams

/// Turns YAML text into a ``SpecNode`` tree, translating Yams' errors into ``SpecError``s
/// that name the file, line and column.
enum SpecComposer {
    /// Composes the spec file; `nil` when the file holds no document (empty or only comments).
    static func composeFile(yaml: String, file: String) throws(SpecError) -> SpecNode? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw translate(error, yaml: yaml, file: file)
        }
        guard let root else { return nil }
        return try SpecNode(root, path: "", file: file) { mark in
            .file(line: mark?.line ?? 0, column: mark?.column ?? 0)
        }
    }

    /// Composes the value of a `--set` override; every node's origin is the override.
    static func composeOverride(value: String, override: String, file: String) throws(SpecError)
        -> SpecNode
    {
        let origin = SpecOrigin.override(override)
        if value.specTrimmingSpaces().isEmpty {
            return SpecNode(kind: .scalar(text: "", type: .string), origin: origin)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: value)
        } catch {
            let inner = translate(error, yaml: value, file: file)
            throw SpecError(
                at: origin, file: file, code: .badOverride, keyPath: "",
                message: "the value is not valid YAML: \(inner.message)", hint: inner.hint
            )
        }
        guard let root else {
            return SpecNode(kind: .scalar(text: "", type: .null), origin: origin)
        }
        return try SpecNode(root, path: "", file: file) { _ in origin }
    }

    /// Translates an error thrown by Yams while composing `yaml`.
    static func translate(_ error: any Error, yaml: String, file: String) -> SpecError {
        guard let error = error as? YamlError else {
            return SpecError(
                code: .syntax, file: file, line: 0, column: 0, keyPath: "",
                message: "the file is not valid YAML: \(error)"
            )
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let (line, column) = clamp(line: mark.line, column: mark.column, in: yaml)
            if problem.contains("nesting level") {
                return SpecError(
                    code: .syntax, file: file, line: line, column: column, keyPath: "",
                    message: "the spec nests lists and mappings more than \(maximumNesting) levels deep, "
                        + "the YAML parser's limit",
                    hint: "a spec needs a handful of levels; flatten the value")
            }
            return SpecError(
                code: .syntax, file: file, line: line, column: column, keyPath: "",
                message: "the file is not valid YAML: \(problem)",
                hint: context.map {
                    let (line, column) = clamp(line: $0.mark.line, column: $0.mark.column, in: yaml)
                    return "\($0.text) at line \(line), column \(column)"
                }
            )
        case .reader(let problem, let offset, _, _):
            let (line, column) = offset.map { position(ofCharacterOffset: $0, in: yaml) } ?? (0, 0)
            return SpecError(
                code: .syntax, file: file, line: line, column: column, keyPath: "",
                message: "the file cannot be read as YAML: \(problem)",
                hint: "specs are UTF-8 text"
            )
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams lists a mapping's duplicated keys in no stable order: report the duplicate
            // that comes first in the document, so the error is the same on every run.
            let locator = DuplicateKeyLocator(yaml: yaml, file: file)
            let located = (duplicates.isEmpty ? [""] : duplicates).map { locator.locate(key: $0, mark: context.mark) }
            let precise = located.filter { $0.hint?.hasPrefix("first given") == true }
            return (precise.isEmpty ? located : precise).min { ($0.line, $0.column) < ($1.line, $1.column) }
                ?? located[0]
        default:
            return SpecError(
                code: .syntax, file: file, line: 0, column: 0, keyPath: "",
                message: "the file is not valid YAML: \(error)"
            )
        }
    }

    /// The YAML parser's nesting limit (libyaml's `MAX_NESTING_LEVEL`, as Yams builds it).
    static let maximumNesting = 1000

    /// A parser position kept inside the text: at the end of a file without a final newline the
    /// parser reports the line after the last, which is shown as the end of the last line.
    static func clamp(line: Int, column: Int, in text: String) -> (Int, Int) {
        // With a final newline, the line after it (column 1) is where the parser stops: kept.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let count = lines.count
        guard count > 0, line > count else { return (line, column) }
        return (count, (lines[count - 1].unicodeScalars.count) + 1)
    }

    /// The 1-based line and column of the character at `offset`.
    static func position(ofCharacterOffset offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}

/// Finds the full key path and the second occurrence of a key that Yams reported as duplicated.
///
/// Yams 6 refuses a mapping with a repeated key and reports only the key and the mark of its
/// first occurrence. The locator renames that occurrence in a copy of the text to a
/// placeholder, composes again (renaming further reported duplicates, at most
/// ``maximumRounds`` times), then finds the placeholder in the tree: its path is the key path,
/// and the next sibling with the same key is the duplicate to report.
struct DuplicateKeyLocator {
    /// A bound on the renaming rounds; a document with more duplicates gets a coarser error.
    static let maximumRounds = 32

    let yaml: String
    let file: String

    /// One renamed key: the placeholder, the original key, and the column shift on its line.
    private struct Rename {
        var placeholder: String
        var key: String
        var line: Int
        var column: Int
        var shift: Int
    }

    func locate(key: String, mark: Mark) -> SpecError {
        let fallback = SpecError(
            code: .duplicateKey, file: file, line: mark.line, column: mark.column,
            keyPath: key, message: "key '\(key)' appears more than once in the same mapping",
            hint: "keep one of them"
        )
        var text = yaml
        var renames: [Rename] = []
        var pending: (key: String, mark: Mark) = (key, mark)
        for round in 0..<Self.maximumRounds {
            let placeholder = "__layerbench_duplicate_\(round)__"
            guard
                let (renamed, shift) = Self.rename(
                    in: text, line: pending.mark.line, column: pending.mark.column,
                    key: pending.key, to: placeholder
                )
            else { return fallback }
            text = renamed
            renames.append(
                Rename(
                    placeholder: placeholder, key: pending.key, line: pending.mark.line,
                    column: pending.mark.column, shift: shift
                )
            )
            do {
                guard let root = try Yams.compose(yaml: text) else { return fallback }
                return find(in: root, path: "", renames: renames) ?? fallback
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                pending = (duplicates.first ?? "", context.mark)
            } catch {
                return fallback
            }
        }
        return fallback
    }

    /// Walks the renamed tree for the first placeholder and reports its next same-key sibling.
    private func find(in node: Node, path: String, renames: [Rename]) -> SpecError? {
        switch node {
        case .mapping(let mapping):
            let pairs = Array(mapping)
            for (index, pair) in pairs.enumerated() {
                let key = pair.key.string ?? ""
                if key == renames.first?.placeholder, let first = renames.first {
                    let twin = pairs[(index + 1)...].first { other in
                        let otherKey = other.key.string ?? ""
                        let original =
                            renames.first { $0.placeholder == otherKey }?.key ?? otherKey
                        return original == first.key
                    }
                    guard let twin, let twinMark = twin.key.mark else { return nil }
                    let (line, column) = unshift(twinMark, renames: renames)
                    return SpecError(
                        code: .duplicateKey, file: file, line: line, column: column,
                        keyPath: SpecPath.child(path, first.key),
                        message: "key '\(first.key)' appears more than once in the same mapping",
                        hint:
                            "first given at line \(first.line), column \(first.column); keep one of them"
                    )
                }
                let childPath = SpecPath.child(path, key)
                if let found = find(in: pair.value, path: childPath, renames: renames) {
                    return found
                }
            }
            return nil
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                if let found = find(
                    in: element, path: SpecPath.element(path, index), renames: renames)
                {
                    return found
                }
            }
            return nil
        case .scalar, .alias:
            return nil
        }
    }

    /// Maps a mark in the renamed text back to the original text.
    private func unshift(_ mark: Mark, renames: [Rename]) -> (Int, Int) {
        var column = mark.column
        for rename in renames.reversed() where rename.line == mark.line && column > rename.column {
            column -= rename.shift
        }
        return (mark.line, column)
    }

    /// Replaces the key written at `line`:`column` (plain, single- or double-quoted) by
    /// `placeholder`; returns the new text and how far the rest of the line moved.
    static func rename(
        in text: String,
        line: Int,
        column: Int,
        key: String,
        to placeholder: String
    ) -> (String, Int)? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            Array(String($0).unicodeScalars)
        }
        guard line >= 1, line <= lines.count else { return nil }
        let scalars = lines[line - 1]
        let start = column - 1
        guard start >= 0, start < scalars.count else { return nil }
        var end = start
        switch scalars[start] {
        case "\"", "'":
            let quote = scalars[start]
            var index = start + 1
            var closed = false
            while index < scalars.count {
                if quote == "\"", scalars[index] == "\\" {
                    index += 2
                    continue
                }
                if scalars[index] == quote {
                    if quote == "'", index + 1 < scalars.count, scalars[index + 1] == "'" {
                        index += 2
                        continue
                    }
                    closed = true
                    break
                }
                index += 1
            }
            guard closed else { return nil }
            end = index + 1
        default:
            let keyScalars = Array(key.unicodeScalars)
            guard !keyScalars.isEmpty, start + keyScalars.count <= scalars.count,
                Array(scalars[start..<(start + keyScalars.count)]) == keyScalars
            else { return nil }
            end = start + keyScalars.count
        }
        var replaced = scalars
        replaced.replaceSubrange(start..<end, with: placeholder.unicodeScalars)
        lines[line - 1] = replaced
        let joined = lines.map { String(String.UnicodeScalarView($0)) }.joined(separator: "\n")
        return (joined, placeholder.unicodeScalars.count - (end - start))
    }
}
