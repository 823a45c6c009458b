import Workload

/// The differences between two runs of (usually) the same spec: per variant x class the
/// headline metrics, per variant every engine counter. Variants are matched by name.
public struct Comparison: Sendable, Equatable {
    /// One metric in both runs.
    public struct Row: Sendable, Equatable {
        /// The variant's name.
        public var variant: String
        /// A class (`single_region`, ...), `all` for the variant's classes merged, or `counters`.
        public var scope: String
        /// The metric's name (see ``RunMetrics``).
        public var metric: String
        /// The value in run A, if measured.
        public var a: Double?
        /// The value in run B, if measured.
        public var b: Double?

        /// `b - a`, when both were measured.
        public var change: Double? {
            guard let a, let b else { return nil }
            return b - a
        }

        /// The change in percent of `a`, when both were measured and `a` is not zero.
        public var changePercent: Double? {
            guard let a, let b else { return nil }
            return Delta.percent(from: a, to: b)
        }
    }

    /// The metrics compared per class and for all classes merged.
    public static let classMetrics = ["tps", "p50_ms", "p99_ms", "p999_ms", "errors", "retries"]

    /// Run A's id.
    public var aRunID: String
    /// Run B's id.
    public var bRunID: String
    /// Spec names of A and B (equal when the same spec was run twice).
    public var specNames: (a: String, b: String)
    /// Every compared metric, variants in A's order (then B-only variants are listed in ``onlyInB``).
    public var rows: [Row]
    /// Variants only A has.
    public var onlyInA: [String]
    /// Variants only B has.
    public var onlyInB: [String]

    /// Compares run `b` against run `a`.
    public init(a: RunResult, b: RunResult) {
        let metricsA = RunMetrics(a)
        let metricsB = RunMetrics(b)
        aRunID = a.runID
        bRunID = b.runID
        specNames = (a.specName, b.specName)
        let namesB = Set(b.variants.map(\.name))
        let namesA = Set(a.variants.map(\.name))
        onlyInA = a.variants.map(\.name).filter { !namesB.contains($0) }
        onlyInB = b.variants.map(\.name).filter { !namesA.contains($0) }
        var rows: [Row] = []
        for variant in a.variants.map(\.name) where namesB.contains(variant) {
            var scopes = metricsA.scopes[variant] ?? []
            for scope in metricsB.scopes[variant] ?? [] where !scopes.contains(scope) {
                scopes.append(scope)
            }
            for scope in scopes {
                for metric in Self.classMetrics {
                    rows.append(
                        Row(
                            variant: variant, scope: scope, metric: metric,
                            a: metricsA.value(variant: variant, scope: scope, metric: metric),
                            b: metricsB.value(variant: variant, scope: scope, metric: metric)))
                }
            }
            let counters = Set(metricsA.counterNames[variant] ?? []).union(
                metricsB.counterNames[variant] ?? [])
            for counter in counters.sorted() {
                rows.append(
                    Row(
                        variant: variant, scope: "counters", metric: counter,
                        a: metricsA.value(variant: variant, metric: counter),
                        b: metricsB.value(variant: variant, metric: counter)))
            }
        }
        self.rows = rows
    }

    /// Compares run `b` against run `a` (the `compare A B` command).
    public static func compare(a: RunResult, b: RunResult) -> Comparison {
        Comparison(a: a, b: b)
    }

    /// Equality of every field.
    public static func == (lhs: Comparison, rhs: Comparison) -> Bool {
        lhs.aRunID == rhs.aRunID && lhs.bRunID == rhs.bRunID && lhs.specNames == rhs.specNames
            && lhs.rows == rhs.rows && lhs.onlyInA == rhs.onlyInA && lhs.onlyInB == rhs.onlyInB
    }

    /// The comparison as markdown: one table per variant with A, B, the change and the change in %.
    public var markdown: String {
        var out = ["# Comparison", ""]
        out.append("- A: `\(aRunID)` (\(specNames.a))")
        out.append("- B: `\(bRunID)` (\(specNames.b))")
        if specNames.a != specNames.b {
            out.append("- Note: the runs measured different specs; variants are matched by name only.")
        }
        if !onlyInA.isEmpty { out.append("- Only in A: " + onlyInA.joined(separator: ", ")) }
        if !onlyInB.isEmpty { out.append("- Only in B: " + onlyInB.joined(separator: ", ")) }
        out.append("")
        var variants: [String] = []
        for row in rows where !variants.contains(row.variant) {
            variants.append(row.variant)
        }
        for variant in variants {
            out.append("## \(variant)")
            out.append("")
            let tableRows = rows.filter { $0.variant == variant }.map { row in
                [
                    row.scope, row.metric, row.a.map(Format.number) ?? "–", row.b.map(Format.number) ?? "–",
                    row.change.map { ($0 >= 0 ? "+" : "") + Format.number($0) } ?? "–",
                    row.changePercent.map(Format.signedPercent) ?? "–",
                ]
            }
            out += SummaryMarkdown.table(
                ["scope", "metric", "A", "B", "change", "change %"], tableRows, rightAligned: [2, 3, 4, 5])
        }
        if variants.isEmpty {
            out.append("No variant is in both runs.")
            out.append("")
        }
        return out.joined(separator: "\n")
    }
}
