/// A `--set key=value` override (as YCSB's `-p`), applied to the composed spec before it is
/// decoded so that the result is validated like the file itself.
///
/// The key is a dotted path with optional list indices: `clients`,
/// `optimisations.batch_commit`, `network.rtt.us-east.eu-west`, `regions[0].replicas`. The
/// value is YAML: a scalar (`64`, `40ms`) or a flow node (`[false, true]`, `{min: 1}`).
/// Missing mapping keys along the path are created; list indices must exist.
struct SpecOverride {
    /// One step of a key path.
    enum Segment: Equatable {
        case key(String)
        case index(Int)
    }

    /// The override as the user wrote it, `key=value`.
    let text: String
    /// The parsed key path.
    let segments: [Segment]
    /// The value, composed, with the override as the origin of every node.
    let value: SpecNode

    /// Parses `text` (`key=value`).
    init(_ text: String, file: String) throws(SpecError) {
        self.text = text
        let origin = SpecOrigin.override(text)
        func bad(_ message: String, hint: String? = nil) -> SpecError {
            SpecError(at: origin, file: file, code: .badOverride, keyPath: "", message: message, hint: hint)
        }
        guard let equals = text.firstIndex(of: "=") else {
            throw bad("an override must be key=value", hint: "e.g. --set clients=64")
        }
        let path = String(text[..<equals]).specTrimmingSpaces()
        let valueText = String(text[text.index(after: equals)...])
        guard !path.isEmpty else {
            throw bad("the key before '=' is empty", hint: "e.g. --set clients=64")
        }
        guard let segments = Self.segments(of: path) else {
            throw bad(
                "'\(path)' is not a key path",
                hint: "write keys separated by dots, with [n] for list elements, e.g. regions[0].replicas"
            )
        }
        self.segments = segments
        self.value = try SpecComposer.composeOverride(value: valueText, override: text, file: file)
    }

    /// Splits `a.b[1].c` into segments; nil when the path is malformed.
    static func segments(of path: String) -> [Segment]? {
        var segments: [Segment] = []
        var name = ""
        var index: String?
        var expectDot = false
        for character in path {
            if var digits = index {
                if character == "]" {
                    guard let value = Int(digits), value >= 0 else { return nil }
                    segments.append(.index(value))
                    index = nil
                    expectDot = true
                } else {
                    guard character.isASCII, character.isNumber else { return nil }
                    digits.append(character)
                    index = digits
                }
                continue
            }
            switch character {
            case ".":
                if !name.isEmpty {
                    segments.append(.key(name))
                    name = ""
                } else if !expectDot {
                    return nil
                }
                expectDot = false
            case "[":
                if !name.isEmpty {
                    segments.append(.key(name))
                    name = ""
                } else if !expectDot {
                    return nil
                }
                index = ""
            case "]", " ", "\t":
                return nil
            default:
                guard !expectDot else { return nil }
                name.append(character)
            }
        }
        guard index == nil else { return nil }
        if !name.isEmpty {
            segments.append(.key(name))
        } else if !expectDot {
            return nil
        }
        guard case .key = segments.first else { return nil }
        return segments
    }

    /// Removes the key at the dotted path `key` (`--unset key`) from `root`, so that the spec's
    /// default applies or a conflicting key can be given (`--unset clients --set rate=100`).
    ///
    /// - Throws: a ``SpecError`` of code `badOverride` naming the key when the path is malformed,
    ///   ends in a list index, or names nothing in the spec.
    static func unset(_ key: String, in root: inout SpecNode, file: String) throws(SpecError) {
        let text = "--unset \(key)"
        let origin = SpecOrigin.override(text)
        func bad(_ message: String, hint: String? = nil) -> SpecError {
            var error = SpecError(
                at: origin, file: file, code: .badOverride, keyPath: key, message: message, hint: hint)
            error.override = nil
            error.line = 0
            error.message = "\(text): " + message
            return error
        }
        guard let segments = segments(of: key.specTrimmingSpaces()), case .key(let last) = segments.last else {
            throw bad(
                "'\(key)' is not a key path to remove",
                hint: "write keys separated by dots, e.g. --unset clients or --unset optimisations.batch_commit")
        }
        guard try remove(last, at: segments.dropLast()[...], in: &root) else {
            throw bad("'\(key)' is not in the spec, so there is nothing to remove")
        }
    }

    /// Removes `key` from the mapping at `path` below `node`; false when there is no such key.
    private static func remove(_ key: String, at path: ArraySlice<Segment>, in node: inout SpecNode) throws(SpecError)
        -> Bool
    {
        guard let segment = path.first else {
            guard case .mapping(var entries) = node.kind, let index = entries.firstIndex(where: { $0.key == key })
            else { return false }
            entries.remove(at: index)
            node.kind = .mapping(entries)
            return true
        }
        switch (segment, node.kind) {
        case (.key(let name), .mapping(var entries)):
            guard let index = entries.firstIndex(where: { $0.key == name }) else { return false }
            let removed = try remove(key, at: path.dropFirst(), in: &entries[index].value)
            node.kind = .mapping(entries)
            return removed
        case (.index(let position), .sequence(var elements)):
            guard position < elements.count else { return false }
            let removed = try remove(key, at: path.dropFirst(), in: &elements[position])
            node.kind = .sequence(elements)
            return removed
        default:
            return false
        }
    }

    /// Sets the value at the path inside `root`.
    func apply(to root: inout SpecNode, file: String) throws(SpecError) {
        try set(&root, segments: segments[...], path: "", file: file)
    }

    private func set(
        _ node: inout SpecNode,
        segments: ArraySlice<Segment>,
        path: String,
        file: String
    ) throws(SpecError) {
        guard let segment = segments.first else {
            node = value
            return
        }
        let rest = segments.dropFirst()
        let origin = SpecOrigin.override(text)
        func bad(_ message: String, hint: String? = nil) -> SpecError {
            SpecError(at: origin, file: file, code: .badOverride, keyPath: path, message: message, hint: hint)
        }
        switch segment {
        case .key(let key):
            var entries: [SpecNode.Entry]
            switch node.kind {
            case .mapping(let existing): entries = existing
            case .scalar(_, .null): entries = []
            default:
                throw bad(
                    "'\(path)' is \(node.summary), not a mapping, so it has no key '\(key)'",
                    hint: "set '\(path)' itself, e.g. --set \(path)={\(key): ...}"
                )
            }
            let childPath = SpecPath.child(path, key)
            if let position = entries.firstIndex(where: { $0.key == key }) {
                try set(&entries[position].value, segments: rest, path: childPath, file: file)
            } else {
                if case .index = rest.first {
                    throw SpecError(
                        at: origin, file: file, code: .badOverride, keyPath: childPath,
                        message: "'\(childPath)' does not exist, so it has no elements to index",
                        hint: "set the whole list, e.g. --set \(childPath)=[...]"
                    )
                }
                var child = SpecNode(kind: .mapping([]), origin: origin)
                try set(&child, segments: rest, path: childPath, file: file)
                entries.append(SpecNode.Entry(key: key, keyOrigin: origin, value: child))
            }
            node.kind = .mapping(entries)
        case .index(let index):
            guard case .sequence(var elements) = node.kind else {
                throw bad("'\(path)' is \(node.summary), not a list, so it has no element [\(index)]")
            }
            guard index < elements.count else {
                throw bad(
                    "'\(path)' has \(elements.count) elements, so [\(index)] does not exist",
                    hint: "set the whole list, e.g. --set \(path)=[...]"
                )
            }
            try set(&elements[index], segments: rest, path: SpecPath.element(path, index), file: file)
            node.kind = .sequence(elements)
        }
    }
}
