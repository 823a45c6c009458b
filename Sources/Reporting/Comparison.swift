import Results

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

        /// Which way the metric improves (inferred from its name, as the gate does).
        public var direction: GateDirection { GateDirection.inferred(for: metric) }

        /// `better`, `worse` or `same` (within ``Comparison/noisePercent`` either way); empty when
        /// a value is missing.
        public var verdict: String {
            guard let a, let b else { return "" }
            let threshold = GateThreshold(relative: Comparison.noisePercent)
            let worse = direction == .lowerIsBetter ? b - a : a - b
            if threshold.isExceeded(worse: worse, baseline: a) { return "worse" }
            if threshold.isExceeded(worse: -worse, baseline: a) { return "better" }
            return "same"
        }
    }

    /// The change, in percent either way, that `compare` calls noise (`same`) rather than better
    /// or worse: run-to-run variation of TPS and latency on a shared machine.
    public static let noisePercent = 5.0

    /// The metrics a comparison leads with, per variant (all classes merged), in this order.
    public static let headlineMetrics = [
        "tps", "p50_ms", "p99_ms", "p999_ms", "errors_per_1000", "retries_per_1000", "fsyncs_per_transfer",
        "commits_per_fsync", "wal_bytes_per_transfer",
    ]

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
            for metric in Self.headlineMetrics where !Self.classMetrics.contains(metric) {
                rows.append(
                    Row(
                        variant: variant, scope: "headline", metric: metric,
                        a: metricsA.value(variant: variant, metric: metric),
                        b: metricsB.value(variant: variant, metric: metric)))
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
        func cells(_ row: Row) -> [String] {
            [
                row.a.map(Format.number) ?? "–", row.b.map(Format.number) ?? "–",
                row.change.map { ($0 >= 0 ? "+" : "") + Format.number($0) } ?? "–",
                row.changePercent.map(Format.signedPercent) ?? "–",
            ]
        }
        for variant in variants {
            out.append("## \(variant)")
            out.append("")
            let mine = rows.filter { $0.variant == variant }
            // The headline first: the variant's classes merged, with which way is better and a
            // verdict (changes within the noise allowance are `same`).
            let headline = Self.headlineMetrics.compactMap { metric in
                mine.first { ($0.scope == RunMetrics.allScope || $0.scope == "headline") && $0.metric == metric }
            }.filter { $0.a != nil || $0.b != nil }
            out.append(
                "Headline, all classes (verdict: better or worse by more than \(Format.number(Self.noisePercent)) %):")
            out.append("")
            out += SummaryMarkdown.table(
                ["metric", "better", "A", "B", "change", "change %", "verdict"],
                headline.map {
                    [$0.metric, $0.direction == .lowerIsBetter ? "lower" : "higher"] + cells($0) + [$0.verdict]
                }, rightAligned: [2, 3, 4, 5])
            let classes = mine.filter {
                $0.scope != "headline" && $0.scope != "counters" && $0.scope != RunMetrics.allScope
            }
            if !classes.isEmpty {
                out.append("Per class:")
                out.append("")
                out += SummaryMarkdown.table(
                    ["scope", "metric", "A", "B", "change", "change %", "verdict"],
                    classes.map { [$0.scope, $0.metric] + cells($0) + [$0.verdict] }, rightAligned: [2, 3, 4, 5])
            }
            let counters = mine.filter { $0.scope == "counters" }
            if !counters.isEmpty {
                out.append("Engine counters:")
                out.append("")
                out += SummaryMarkdown.table(
                    ["scope", "metric", "A", "B", "change", "change %"],
                    counters.map { [$0.scope, $0.metric] + cells($0) },
                    rightAligned: [2, 3, 4, 5])
            }
        }
        if variants.isEmpty {
            out.append("No variant is in both runs.")
            out.append("")
        }
        return out.joined(separator: "\n")
    }
}
