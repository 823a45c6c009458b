import Foundation

extension WorkloadSpec {
    /// The top-level keys that do not change what a run measures: they are left out when two
    /// runs' specs are compared.
    public static let keysNotMeasured: Set<String> = ["description", "gate", "report"]

    /// The top-level keys whose values differ between two spec texts (the effective specs recorded
    /// in two runs), in the order of the first; keys in ``keysNotMeasured`` are ignored. A text
    /// that is not a YAML mapping differs as a whole (`spec`).
    public static func differingKeys(_ a: String, _ b: String) -> [String] {
        guard let first = try? SpecComposer.composeFile(yaml: a, file: "a"), let left = first.entries,
            let second = try? SpecComposer.composeFile(yaml: b, file: "b"), let right = second.entries
        else { return a == b ? [] : ["spec"] }
        var keys: [String] = []
        for entry in left where !keysNotMeasured.contains(entry.key) {
            let other = right.first { $0.key == entry.key }
            if other.map({ $0.value.canonicalText != entry.value.canonicalText }) ?? true { keys.append(entry.key) }
        }
        for entry in right where !keysNotMeasured.contains(entry.key) && !left.contains(where: { $0.key == entry.key })
        {
            keys.append(entry.key)
        }
        return keys
    }

    /// The gate thresholds of a thresholds file: a YAML mapping with a `gate:` section (a spec file
    /// works too, and is then validated as a whole).
    ///
    /// - Throws: ``SpecError`` naming the file, line and column of the problem.
    public static func loadGate(path: String) throws(SpecError) -> [GateThreshold] {
        let bytes = try readFile(path, what: "the thresholds file")
        let text = try SpecText.decode(bytes, file: path)
        guard let root = try SpecComposer.composeFile(yaml: text, file: path) else {
            throw SpecError(
                code: .emptyFile, file: path, line: 1, column: 1, keyPath: "", message: "the thresholds file is empty",
                hint: "write 'gate:' and one metric per line, e.g. 'gate: {fsyncs_per_transfer: {relative: 10%}}'")
        }
        let decoder = SpecDecoder(file: path)
        let top = try decoder.read.openMapping(root, "")
        if top.entries.count == 1, let gate = top["gate"] { return try decoder.gate(gate.value) }
        return try decoder.decode(root).gate
    }
}

extension SpecNode {
    /// The node's value as text, independent of its position and style: what two specs are
    /// compared by.
    var canonicalText: String {
        switch kind {
        case .scalar(let text, let type): return "\(type):\(text)"
        case .sequence(let elements): return "[" + elements.map(\.canonicalText).joined(separator: ",") + "]"
        case .mapping(let entries):
            return "{" + entries.map { "\($0.key)=\($0.value.canonicalText)" }.joined(separator: ",") + "}"
        }
    }
}
