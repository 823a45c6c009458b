import Yams

/// Where a node of a spec came from: a position in the file, or a `--set` override.
enum SpecOrigin: Equatable, Sendable {
    /// A 1-based line and column in the spec file.
    case file(line: Int, column: Int)
    /// The text of the `--set key=value` override that produced the node.
    case override(String)
}

/// The spec as a tree of YAML nodes, each with its origin.
///
/// Yams' `Node` is converted to this tree so that overrides can be grafted in with their own
/// origin and every error can name a position. Mapping keys are strings; the tree keeps the
/// order of the file, and the conversion rejects a key that appears twice in one mapping.
struct SpecNode {
    /// The YAML type a plain or quoted scalar resolved to (YAML 1.1 core rules, as Yams has them).
    enum ScalarType: Equatable {
        case string, int, float, bool, null, other
    }

    /// One `key: value` pair of a mapping.
    struct Entry {
        var key: String
        var keyOrigin: SpecOrigin
        var value: SpecNode
    }

    /// The shape of a node.
    enum Kind {
        case scalar(text: String, type: ScalarType)
        case mapping([Entry])
        case sequence([SpecNode])
    }

    var kind: Kind
    var origin: SpecOrigin

    /// The entries when the node is a mapping.
    var entries: [Entry]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    /// The elements when the node is a sequence.
    var elements: [SpecNode]? {
        if case .sequence(let elements) = kind { return elements }
        return nil
    }

    /// A short description of the node for error messages: "a string 'ten'", "a list".
    var summary: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let text, let type):
            let shown = text.count > 40 ? String(text.prefix(40)) + "..." : text
            switch type {
            case .string, .other: return "a string '\(shown)'"
            case .int: return "an integer \(shown)"
            case .float: return "a number \(shown)"
            case .bool: return "a boolean \(shown)"
            case .null: return "no value"
            }
        }
    }
}

/// The bound on what YAML aliases may expand to. Yams resolves an alias to its anchored node
/// while composing, without copying it; converting to ``SpecNode`` expands it. A "billion laughs"
/// document (nine levels of ten aliases, a few hundred bytes) would expand to 10^9 nodes.
struct ExpansionBudget {
    /// The most aliased collections (a mapping or list met a second time) a spec may expand.
    static let aliasExpansions = WorkloadSpec.Limits.aliasExpansions
    /// The most nodes a spec may expand to, aliases included.
    static let nodes = WorkloadSpec.Limits.expandedNodes

    var expansions = 0
    var nodes = 0
    /// Collections seen so far, by kind and position: a second visit is an alias's expansion.
    var seen: Set<[Int]> = []
}

extension SpecNode {
    /// Converts a composed Yams node; `origin` maps Yams' marks to origins.
    ///
    /// Rejects non-scalar mapping keys and keys that appear twice in a mapping (a second line of
    /// defence: Yams 6 already rejects most duplicates while composing), and documents whose
    /// aliases expand beyond ``ExpansionBudget`` (reported where the alias is used).
    init(
        _ node: Node,
        path: String,
        file: String,
        origin: (Mark?) -> SpecOrigin
    ) throws(SpecError) {
        var budget = ExpansionBudget()
        try self.init(node, path: path, file: file, origin: origin, referrer: nil, budget: &budget)
    }

    private init(
        _ node: Node,
        path: String,
        file: String,
        origin: (Mark?) -> SpecOrigin,
        referrer: SpecOrigin?,
        budget: inout ExpansionBudget
    ) throws(SpecError) {
        budget.nodes += 1
        let here = referrer ?? origin(node.mark)
        func tooComplex(_ what: String) -> SpecError {
            SpecError(
                at: here, file: file, code: .tooComplex, keyPath: path,
                message: "the spec's YAML aliases expand to \(what) (an alias bomb?)",
                hint: "a spec may expand at most \(ExpansionBudget.aliasExpansions) aliased mappings or lists "
                    + "and \(ExpansionBudget.nodes) nodes; write the values out instead of nesting aliases")
        }
        if budget.nodes > ExpansionBudget.nodes {
            throw tooComplex("more than \(ExpansionBudget.nodes) nodes")
        }
        if let mark = node.mark {
            let kind: Int
            switch node {
            case .mapping: kind = 1
            case .sequence: kind = 2
            default: kind = 0
            }
            if kind != 0, !budget.seen.insert([kind, mark.line, mark.column]).inserted {
                budget.expansions += 1
                if budget.expansions > ExpansionBudget.aliasExpansions {
                    throw tooComplex("more than \(ExpansionBudget.aliasExpansions) copies of aliased mappings or lists")
                }
            }
        }
        switch node {
        case .scalar(let scalar):
            self.init(
                kind: .scalar(text: scalar.string, type: Self.scalarType(of: node)),
                origin: origin(scalar.mark)
            )
        case .alias(let alias):
            // Yams resolves aliases while composing; an unresolved one reads as no value.
            self.init(kind: .scalar(text: "", type: .null), origin: origin(alias.mark))
        case .sequence(let sequence):
            var elements: [SpecNode] = []
            for (index, element) in sequence.enumerated() {
                elements.append(
                    try SpecNode(
                        element, path: SpecPath.element(path, index), file: file, origin: origin,
                        referrer: referrer ?? origin(sequence.mark), budget: &budget
                    )
                )
            }
            self.init(kind: .sequence(elements), origin: origin(sequence.mark))
        case .mapping(let mapping):
            var entries: [Entry] = []
            for (keyNode, valueNode) in mapping {
                let keyOrigin = origin(keyNode.mark)
                guard case .scalar(let keyScalar) = keyNode else {
                    throw SpecError(
                        at: keyOrigin, file: file, code: .wrongType, keyPath: path,
                        message: "a key of \(SpecPath.describe(path)) is not a string",
                        hint: "keys are plain words such as 'clients'"
                    )
                }
                let key = keyScalar.string
                let keyPath = SpecPath.child(path, key)
                if let first = entries.first(where: { $0.key == key }) {
                    throw SpecError.duplicateKey(
                        key, keyPath: keyPath, at: keyOrigin, first: first.keyOrigin, file: file
                    )
                }
                let value = try SpecNode(
                    valueNode, path: keyPath, file: file, origin: origin, referrer: keyOrigin, budget: &budget)
                entries.append(Entry(key: key, keyOrigin: keyOrigin, value: value))
            }
            self.init(kind: .mapping(entries), origin: origin(mapping.mark))
        }
    }

    /// The resolved type of a scalar node (quoted scalars are strings).
    private static func scalarType(of node: Node) -> ScalarType {
        switch node.tag.description {
        case Tag.Name.str.rawValue: return .string
        case Tag.Name.int.rawValue: return .int
        case Tag.Name.float.rawValue: return .float
        case Tag.Name.bool.rawValue: return .bool
        case Tag.Name.null.rawValue: return .null
        default: return .other
        }
    }
}

/// Key paths as errors show them: `optimisations.batch_commit`, `regions[1].replicas`.
enum SpecPath {
    /// The path of `key` inside the mapping at `path`.
    static func child(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The path of element `index` of the sequence at `path`.
    static func element(_ path: String, _ index: Int) -> String {
        "\(path)[\(index)]"
    }

    /// How an error names the mapping at `path`.
    static func describe(_ path: String) -> String {
        path.isEmpty ? "the spec" : "'\(path)'"
    }
}

extension SpecError {
    /// An error positioned at `origin`: a file position, or the override that made the node.
    init(
        at origin: SpecOrigin,
        file: String,
        code: Code,
        keyPath: String,
        message: String,
        hint: String? = nil
    ) {
        switch origin {
        case .file(let line, let column):
            self.init(
                code: code, file: file, line: line, column: column, keyPath: keyPath,
                message: message, hint: hint
            )
        case .override(let text):
            self.init(
                code: code, file: file, line: 0, column: 0, keyPath: keyPath, message: message,
                hint: hint, override: text
            )
        }
    }

    /// A key given twice in one mapping, positioned at the second occurrence.
    static func duplicateKey(
        _ key: String,
        keyPath: String,
        at origin: SpecOrigin,
        first: SpecOrigin,
        file: String
    ) -> SpecError {
        var hint = "keep one of them"
        if case .file(let line, let column) = first {
            hint = "first given at line \(line), column \(column); keep one of them"
        }
        return SpecError(
            at: origin, file: file, code: .duplicateKey, keyPath: keyPath,
            message: "key '\(key)' appears more than once in the same mapping", hint: hint
        )
    }
}
