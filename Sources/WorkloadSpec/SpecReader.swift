/// Typed reads of ``SpecNode``s: each checks the YAML type and the range of a value and throws
/// a ``SpecError`` positioned at the node when either is wrong.
struct SpecReader {
    /// The spec file, as errors name it.
    let file: String

    /// A mapping whose keys have been checked against the known ones.
    struct Mapping {
        let node: SpecNode
        let path: String
        let entries: [SpecNode.Entry]

        /// The entry for `key`, if present.
        subscript(key: String) -> SpecNode.Entry? {
            entries.first { $0.key == key }
        }

        /// The key path of `key` inside this mapping.
        func path(_ key: String) -> String {
            SpecPath.child(path, key)
        }
    }

    // MARK: - Errors

    func error(
        _ code: SpecError.Code,
        at origin: SpecOrigin,
        _ keyPath: String,
        _ message: String,
        hint: String? = nil
    ) -> SpecError {
        SpecError(at: origin, file: file, code: code, keyPath: keyPath, message: message, hint: hint)
    }

    /// A value of the wrong YAML type.
    func typeError(_ node: SpecNode, _ path: String, expected: String) -> SpecError {
        var hint: String?
        if case .scalar(_, .null) = node.kind {
            hint = "give a value, or remove the key to use the default"
        }
        return error(
            .wrongType, at: node.origin, path,
            "'\(path)' must be \(expected), found \(node.summary)", hint: hint
        )
    }

    // MARK: - Mappings

    /// Checks that `node` is a mapping whose keys are all in `known`.
    func mapping(_ node: SpecNode, _ path: String, known: [String]) throws(SpecError) -> Mapping {
        guard let entries = node.entries else {
            if path.isEmpty {
                throw error(
                    .notAMapping, at: node.origin, path,
                    "the top level of a spec must be a mapping of keys to values, found \(node.summary)",
                    hint: "start with 'name: my-workload'"
                )
            }
            throw typeError(node, path, expected: "a mapping")
        }
        for entry in entries where !known.contains(entry.key) {
            let keyPath = SpecPath.child(path, entry.key)
            throw error(
                .unknownKey, at: entry.keyOrigin, keyPath,
                "key '\(keyPath)' is not a known key of \(SpecPath.describe(path))",
                hint: Self.suggestion(for: entry.key, among: known)
            )
        }
        return Mapping(node: node, path: path, entries: entries)
    }

    /// Checks that `node` is a mapping, allowing any key.
    func openMapping(_ node: SpecNode, _ path: String) throws(SpecError) -> Mapping {
        guard let entries = node.entries else { throw typeError(node, path, expected: "a mapping") }
        return Mapping(node: node, path: path, entries: entries)
    }

    /// The entry for a required key; a missing key is reported at the enclosing mapping.
    func required(_ mapping: Mapping, _ key: String, hint: String? = nil) throws(SpecError)
        -> SpecNode.Entry
    {
        guard let entry = mapping[key] else {
            throw error(
                .missingKey, at: mapping.node.origin, mapping.path(key),
                "\(SpecPath.describe(mapping.path)) is missing the required key '\(key)'",
                hint: hint
            )
        }
        return entry
    }

    /// Checks that `node` is a list.
    func sequence(_ node: SpecNode, _ path: String) throws(SpecError) -> [SpecNode] {
        guard let elements = node.elements else { throw typeError(node, path, expected: "a list") }
        return elements
    }

    // MARK: - Scalars

    /// A string: any scalar except null (so `name: 2024` is the string "2024").
    func string(_ node: SpecNode, _ path: String) throws(SpecError) -> String {
        guard case .scalar(let text, let type) = node.kind, type != .null else {
            throw typeError(node, path, expected: "a string")
        }
        return text
    }

    /// A name, `[a-z0-9_-]+` of at most ``WorkloadSpec/Limits/nameLength`` characters.
    func name(_ node: SpecNode, _ path: String) throws(SpecError) -> String {
        let text = try string(node, path)
        let allowed = text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        guard allowed, !text.isEmpty, text.count <= WorkloadSpec.Limits.nameLength else {
            throw error(
                .invalidValue, at: node.origin, path,
                "'\(path)' must be 1 to \(WorkloadSpec.Limits.nameLength) characters of a-z, 0-9, '_' and '-', got '\(text)'",
                hint: "names become directory names; try '\(Self.slug(text))'"
            )
        }
        return text
    }

    /// `true` or `false` (YAML 1.1's `yes`/`on` are refused as ambiguous).
    func bool(_ node: SpecNode, _ path: String) throws(SpecError) -> Bool {
        if case .scalar(let text, .bool) = node.kind {
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default:
                throw error(
                    .wrongType, at: node.origin, path,
                    "'\(path)' must be true or false, found '\(text)'", hint: "write true or false"
                )
            }
        }
        throw typeError(node, path, expected: "true or false")
    }

    /// An integer in `range`.
    func int(_ node: SpecNode, _ path: String, in range: ClosedRange<Int>) throws(SpecError) -> Int {
        let value = try integer(node, path, range: Int64(range.lowerBound)...Int64(range.upperBound))
        return Int(value)
    }

    /// A 64-bit integer in `range`.
    func int64(_ node: SpecNode, _ path: String, in range: ClosedRange<Int64>) throws(SpecError)
        -> Int64
    {
        try integer(node, path, range: range)
    }

    /// An unsigned 64-bit integer.
    func uint64(_ node: SpecNode, _ path: String) throws(SpecError) -> UInt64 {
        guard case .scalar(let text, .int) = node.kind else {
            throw typeError(node, path, expected: "an integer")
        }
        guard let value = UInt64(text.replacingUnderscores()) else {
            throw error(
                .outOfRange, at: node.origin, path,
                "'\(path)' must be between 0 and \(UInt64.max), got \(text)"
            )
        }
        return value
    }

    private func integer(_ node: SpecNode, _ path: String, range: ClosedRange<Int64>)
        throws(SpecError) -> Int64
    {
        guard case .scalar(let text, .int) = node.kind else {
            throw typeError(node, path, expected: "an integer")
        }
        let digits = text.replacingUnderscores()
        let value: Int64?
        if digits.hasPrefix("0x") {
            value = Int64(digits.dropFirst(2), radix: 16)
        } else {
            value = Int64(digits)
        }
        guard let value, range.contains(value) else {
            throw error(
                .outOfRange, at: node.origin, path,
                "'\(path)' must be \(Self.describe(range)), got \(text)"
            )
        }
        return value
    }

    /// A finite number (integer or decimal) that satisfies `isValid`, described by
    /// `requirement` ("between 0 and 1") in the error.
    func number(
        _ node: SpecNode,
        _ path: String,
        _ requirement: String,
        isValid: (Double) -> Bool
    ) throws(SpecError) -> Double {
        guard case .scalar(let text, let type) = node.kind, type == .int || type == .float else {
            throw typeError(node, path, expected: "a number")
        }
        let value: Double?
        if type == .int {
            value = (try? integer(node, path, range: Int64.min...Int64.max)).map(Double.init)
        } else {
            value = Double(text.replacingUnderscores())
        }
        guard let value, value.isFinite, isValid(value) else {
            throw error(.outOfRange, at: node.origin, path, "'\(path)' must be \(requirement), got \(text)")
        }
        return value
    }

    /// A duration (`250ms`, `2s`, `0`) no longer than ``SpecDuration/maximum``.
    func duration(_ node: SpecNode, _ path: String, positive: Bool = false) throws(SpecError)
        -> Duration
    {
        guard case .scalar(let text, let type) = node.kind, type != .null, type != .bool else {
            throw typeError(node, path, expected: "a duration such as 250ms or 2s")
        }
        let value: Duration
        do {
            value = try SpecDuration.parse(text)
        } catch {
            let code: SpecError.Code = type == .int || type == .float ? .wrongType : .invalidValue
            throw self.error(code, at: node.origin, path, "'\(path)': \(error.message)", hint: error.hint)
        }
        if positive, value == .zero {
            throw error(
                .outOfRange, at: node.origin, path, "'\(path)' must be longer than 0, got \(text)"
            )
        }
        return value
    }

    /// One of the raw values of `Choice`.
    func choice<Choice: RawRepresentable & CaseIterable>(
        _ node: SpecNode,
        _ path: String,
        as type: Choice.Type = Choice.self
    ) throws(SpecError) -> Choice where Choice.RawValue == String {
        let options = Choice.allCases.map(\.rawValue)
        guard case .scalar(let text, let scalarType) = node.kind, scalarType != .null,
            let value = Choice(rawValue: text)
        else {
            var hint = "write one of: \(options.joined(separator: ", "))"
            if case .scalar(let text, _) = node.kind, let near = Self.nearest(to: text, among: options) {
                hint = "did you mean '\(near)'?"
            }
            throw error(
                node.elements != nil || node.entries != nil ? .wrongType : .invalidValue,
                at: node.origin, path,
                "'\(path)' must be one of \(options.joined(separator: ", ")), found \(node.summary)",
                hint: hint
            )
        }
        return value
    }

    // MARK: - Matrix axes

    /// A matrix axis: one value, or a non-empty list of distinct values.
    func axis<Value: Equatable>(
        _ node: SpecNode,
        _ path: String,
        element: (SpecNode, String) throws(SpecError) -> Value
    ) throws(SpecError) -> [Value] {
        guard let elements = node.elements else { return [try element(node, path)] }
        guard !elements.isEmpty else {
            throw error(
                .emptyAxis, at: node.origin, path,
                "'\(path)' is an empty list; a matrix axis needs at least one value",
                hint: "write a single value, or a list such as [false, true]"
            )
        }
        guard elements.count <= WorkloadSpec.Limits.axisValues else {
            throw error(
                .outOfRange, at: node.origin, path,
                "'\(path)' has \(elements.count) values, more than \(WorkloadSpec.Limits.axisValues)"
            )
        }
        var values: [Value] = []
        for (index, node) in elements.enumerated() {
            let elementPath = SpecPath.element(path, index)
            let value = try element(node, elementPath)
            if values.contains(value) {
                throw error(
                    .invalidValue, at: node.origin, elementPath,
                    "'\(elementPath)' repeats a value already on the axis '\(path)'",
                    hint: "list each value once"
                )
            }
            values.append(value)
        }
        return values
    }

    // MARK: - Suggestions

    /// "did you mean 'x'?" for a near miss, else the list of known keys.
    static func suggestion(for key: String, among known: [String]) -> String {
        if let near = nearest(to: key, among: known) { return "did you mean '\(near)'?" }
        return "known keys: \(known.joined(separator: ", "))"
    }

    /// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
    static func nearest(to word: String, among candidates: [String]) -> String? {
        let limit = max(2, word.count / 3)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(word.lowercased(), candidate)
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// The Levenshtein distance between `a` and `b` (insertions, deletions, substitutions).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// `text` lowered and stripped to a name's alphabet.
    static func slug(_ text: String) -> String {
        let mapped = text.lowercased().unicodeScalars.map { scalar -> Character in
            let ok = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_"
            return ok ? Character(scalar) : "-"
        }
        let slug = String(mapped.prefix(WorkloadSpec.Limits.nameLength))
        return slug.isEmpty ? "my-workload" : slug
    }

    /// "between 1 and 7", "at least 2", "at most 10".
    static func describe(_ range: ClosedRange<Int64>) -> String {
        switch (range.lowerBound == Int64.min, range.upperBound == Int64.max) {
        case (true, true): return "an integer"
        case (false, true): return "at least \(range.lowerBound)"
        case (true, false): return "at most \(range.upperBound)"
        case (false, false): return "between \(range.lowerBound) and \(range.upperBound)"
        }
    }
}

extension String {
    /// The text without YAML's digit-group underscores (`1_000` is 1000).
    fileprivate func replacingUnderscores() -> String {
        String(unicodeScalars.filter { $0 != "_" })
    }
}
