/// A workload spec that cannot be used, with what a user needs to fix it: the file, the line
/// and column, the key path, what is wrong and a hint.
///
/// The description reads like a compiler diagnostic:
/// `workloads/x.yaml:12:5: error: key 'clinets' is not a known key of the spec (hint: did you
/// mean 'clients'?)`. An error in a `--set` override names the override instead of a position:
/// `workloads/x.yaml: error: --set clients=x: 'clients' must be an integer, found a string 'x'`.
public struct SpecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of problem, for callers and tests that branch on it.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// The file could not be read.
        case unreadableFile
        /// The file holds no YAML document (empty, or only comments).
        case emptyFile
        /// The text is not YAML.
        case syntax
        /// The top level is not a mapping.
        case notAMapping
        /// A key appears twice in one mapping.
        case duplicateKey
        /// A key the spec does not know.
        case unknownKey
        /// A value of the wrong type (a string where an integer belongs, and so on).
        case wrongType
        /// A required key is absent.
        case missingKey
        /// A number outside its allowed range.
        case outOfRange
        /// A value of the right type that is still not allowed (a bad name, a zero mix).
        case invalidValue
        /// Two keys that exclude each other are both given (`clients` and `rate`).
        case conflictingKeys
        /// A region used in the RTT matrix or a fault but not declared in `regions`.
        case undeclaredRegion
        /// Two regions with the same name.
        case duplicateRegion
        /// A matrix axis given as an empty list.
        case emptyAxis
        /// A `--set` override that cannot be parsed or applied.
        case badOverride
        /// The document is too large once its YAML aliases are expanded.
        case tooComplex
    }

    /// The kind of problem.
    public var code: Code
    /// The spec file as the caller named it.
    public var file: String
    /// The 1-based line of the offending node; 0 when there is no position (an override, an
    /// unreadable file).
    public var line: Int
    /// The 1-based column (in Unicode scalars) of the offending node; 0 when there is no position.
    public var column: Int
    /// The dotted key path of the offending value (`optimisations.batch_commit`,
    /// `regions[1].replicas`); empty for the document as a whole.
    public var keyPath: String
    /// What is wrong, as a sentence that names the key.
    public var message: String
    /// How to fix it, when there is something useful to say.
    public var hint: String?
    /// The `--set key=value` text when the offending value came from an override.
    public var override: String?

    /// Creates an error; `line` and `column` are 1-based, or 0 when there is no position.
    public init(
        code: Code,
        file: String,
        line: Int,
        column: Int,
        keyPath: String,
        message: String,
        hint: String? = nil,
        override: String? = nil
    ) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
        self.hint = hint
        self.override = override
    }

    /// The diagnostic, `file:line:column: error: message (hint: ...)`.
    public var description: String {
        var text = file
        if override == nil, line > 0 { text += ":\(line):\(column)" }
        text += ": error: "
        if let override { text += "--set \(override): " }
        text += message
        if let hint { text += " (hint: \(hint))" }
        return SpecText.escaped(text)
    }
}
