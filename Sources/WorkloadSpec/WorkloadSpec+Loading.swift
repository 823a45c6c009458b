import Foundation

extension WorkloadSpec {
    /// Reads, overrides and validates the spec file at `path`.
    ///
    /// - Parameters:
    ///   - path: The spec file; errors name it as given.
    ///   - overrides: `--set` overrides, `key=value`, applied in order (see
    ///     ``decode(yaml:file:overrides:)``).
    /// - Throws: ``SpecError`` for an unreadable file or the first problem in the spec.
    ///   - unsets: `--unset` key paths, removed before the overrides are applied.
    public static func load(path: String, overrides: [String] = [], unsets: [String] = []) throws(SpecError)
        -> WorkloadSpec
    {
        let bytes = try readFile(path, what: "the spec")
        return try decode(bytes: bytes, file: path, overrides: overrides, unsets: unsets)
    }

    /// The bytes of a spec or thresholds file; an unreadable one throws, saying why.
    static func readFile(_ path: String, what: String) throws(SpecError) -> [UInt8] {
        do {
            return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw SpecError(
                code: .unreadableFile, file: path, line: 0, column: 0, keyPath: "",
                message: "cannot read \(what): \(Self.reason(error, path: path))", hint: "check the path")
        }
    }

    /// Decodes and validates a spec from the raw bytes of a file: bytes that are not UTF-8 are
    /// refused at their offset, line and column; then as ``decode(yaml:file:overrides:unsets:)``.
    public static func decode(
        bytes: [UInt8], file: String, overrides: [String] = [], unsets: [String] = []
    ) throws(SpecError) -> WorkloadSpec {
        let text = try SpecText.decode(bytes, file: file)
        return try decode(yaml: text, file: file, overrides: overrides, unsets: unsets)
    }

    /// Why a file could not be read, in the C library's words when the system gave an errno.
    private static func reason(_ error: any Error, path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "it is a directory" }
            if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
            return "it cannot be read"
        }
        return "no such file"
    }

    /// Decodes and validates a spec from YAML text.
    ///
    /// The text is composed into a node tree (Yams), each override is grafted onto the tree, and
    /// the tree is walked key by key: unknown keys, wrong types, missing keys, out-of-range
    /// values, duplicate keys and cross-key rules all throw a ``SpecError`` positioned at the
    /// offending node, or naming the override that put it there.
    ///
    /// - Parameters:
    ///   - yaml: The spec text.
    ///   - file: The name errors give the text (usually its path).
    ///   - overrides: `key=value` strings: a dotted key path (`clients`,
    ///     `optimisations.batch_commit`, `network.rtt.us-east.eu-west`, `regions[0].replicas`)
    ///     and a YAML value (`64`, `40ms`, `[false, true]`). Missing mapping keys are created.
    public static func decode(
        yaml: String, file: String, overrides: [String] = [], unsets: [String] = []
    ) throws(SpecError) -> WorkloadSpec {
        guard var root = try SpecComposer.composeFile(yaml: yaml, file: file),
            !Self.isNull(root)
        else {
            throw SpecError(
                code: .emptyFile, file: file, line: 1, column: 1, keyPath: "",
                message: "the spec is empty", hint: "a spec needs at least 'name' and 'accounts'"
            )
        }
        let decoder = SpecDecoder(file: file)
        // The top level must be a mapping before overrides can be grafted onto it.
        if root.entries == nil { _ = try decoder.read.mapping(root, "", known: []) }
        for key in unsets {
            try SpecOverride.unset(key, in: &root, file: file)
        }
        for text in overrides {
            let override = try SpecOverride(text, file: file)
            try override.apply(to: &root, file: file)
        }
        return try decoder.decode(root)
    }

    private static func isNull(_ node: SpecNode) -> Bool {
        if case .scalar(_, .null) = node.kind { return true }
        return false
    }
}
