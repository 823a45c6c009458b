import Histogram
import Results
import WorkloadSpec

/// A claim from DESIGN.md that an optimisation is meant to make true, and how to measure it.
public struct OptimisationClaim: Sendable, Equatable {
    /// What the claim is about.
    public enum Metric: String, Sendable {
        /// Committed transfers per second: higher is the claimed direction for a positive change.
        case tps
        /// Median end-to-end latency.
        case p50
    }

    /// The parameter key that toggles the optimisation, for example `locality`.
    public var optimisation: String
    /// The claim as DESIGN.md states it.
    public var text: String
    /// The metric the claim is about.
    public var metric: Metric
    /// The class the claim is about, or `nil` for all classes merged.
    public var transferClass: TransferClass?
    /// The claimed change in percent from off to on, for example `-93`.
    public var claimedChangePercent: Double

    /// A claim from its parts.
    public init(
        optimisation: String, text: String, metric: Metric, transferClass: TransferClass?,
        claimedChangePercent: Double
    ) {
        self.optimisation = optimisation
        self.text = text
        self.metric = metric
        self.transferClass = transferClass
        self.claimedChangePercent = claimedChangePercent
    }

    /// The claims of DESIGN.md ("Optimisations").
    ///
    /// Locality is measured on single-region transfers: those are what it moves off the global
    /// coordinator, whose cross-region round trips make up the claimed 150 ms.
    public static let known: [OptimisationClaim] = [
        OptimisationClaim(
            optimisation: "locality", text: "cross-region latency 150 ms -> 10 ms (-93 %)", metric: .p50,
            transferClass: .singleRegion, claimedChangePercent: -93),
        OptimisationClaim(
            optimisation: "batch_commit", text: "TPS +300 %", metric: .tps, transferClass: nil,
            claimedChangePercent: 300),
        OptimisationClaim(
            optimisation: "async_replication",
            text: "latency 10 ms -> 5 ms (-50 %), paid for by data a failover can lose", metric: .p50,
            transferClass: nil, claimedChangePercent: -50),
    ]

    /// How a measured change compares with the claim.
    public func verdict(measuredChangePercent measured: Double?) -> String {
        guard let measured else { return "not measured" }
        let ratio = measured / claimedChangePercent
        if ratio >= 1 { return "meets claim" }
        if ratio > 0 { return "partial: \(Format.fixed(ratio * 100, 0)) % of the claimed change" }
        return "not confirmed"
    }
}

/// The effect of switching one optimisation on, all other parameters equal.
public struct OptimisationDelta: Sendable, Equatable {
    /// The parameter key that differs, for example `batch_commit`.
    public var optimisation: String
    /// The variant with the optimisation off.
    public var offVariant: String
    /// The variant with the optimisation on.
    public var onVariant: String
    /// The class compared, or `nil` for all classes merged.
    public var transferClass: TransferClass?
    /// Committed transfers per second, off and on.
    public var tps: (off: Double, on: Double)
    /// Median end-to-end latency in microseconds, off and on.
    public var p50Micros: (off: UInt64, on: UInt64)
    /// 99th percentile end-to-end latency in microseconds, off and on.
    public var p99Micros: (off: UInt64, on: UInt64)
    /// The claim this delta tests, when this row is the one the claim is about.
    public var claim: OptimisationClaim?
    /// What the "on" variant paid: counters and checks about lost data (async replication).
    public var cost: String?

    /// Percent change of TPS from off to on.
    public var tpsChangePercent: Double? { Delta.percent(from: tps.off, to: tps.on) }
    /// Percent change of p50 from off to on.
    public var p50ChangePercent: Double? {
        Delta.percent(from: Double(p50Micros.off), to: Double(p50Micros.on))
    }
    /// Percent change of p99 from off to on.
    public var p99ChangePercent: Double? {
        Delta.percent(from: Double(p99Micros.off), to: Double(p99Micros.on))
    }

    /// The change the claim is about, measured.
    public var measuredClaimChangePercent: Double? {
        switch claim?.metric {
        case .tps: tpsChangePercent
        case .p50: p50ChangePercent
        case nil: nil
        }
    }

    /// Equality of every field.
    public static func == (lhs: OptimisationDelta, rhs: OptimisationDelta) -> Bool {
        lhs.optimisation == rhs.optimisation && lhs.offVariant == rhs.offVariant
            && lhs.onVariant == rhs.onVariant
            && lhs.transferClass == rhs.transferClass && lhs.tps == rhs.tps
            && lhs.p50Micros == rhs.p50Micros
            && lhs.p99Micros == rhs.p99Micros && lhs.claim == rhs.claim && lhs.cost == rhs.cost
    }

    /// Spellings of an enabled boolean parameter.
    static let onValues: Set<String> = ["true", "on", "yes", "1", "enabled"]
    /// Spellings of a disabled boolean parameter.
    static let offValues: Set<String> = ["false", "off", "no", "0", "disabled"]

    /// Every on/off pair of a run: for each boolean parameter, each pair of variants whose
    /// parameters differ only in it, one delta per class both ran plus one for all classes merged.
    public static func deltas(_ run: RunResult, claims: [OptimisationClaim] = OptimisationClaim.known)
        -> [OptimisationDelta]
    {
        var deltas: [OptimisationDelta] = []
        let keys = Set(run.variants.flatMap(\.parameters.keys)).sorted()
        for key in keys {
            for off in run.variants {
                guard let offValue = off.parameters[key]?.lowercased(), offValues.contains(offValue) else {
                    continue
                }
                for on in run.variants {
                    guard let onValue = on.parameters[key]?.lowercased(), onValues.contains(onValue),
                        differOnlyIn(key, off.parameters, on.parameters)
                    else { continue }
                    deltas += pair(key: key, off: off, on: on, claim: claims.first { $0.optimisation == key })
                }
            }
        }
        return deltas
    }

    private static func differOnlyIn(_ key: String, _ a: [String: String], _ b: [String: String])
        -> Bool
    {
        var a = a
        var b = b
        a[key] = nil
        b[key] = nil
        return a == b
    }

    private static func pair(
        key: String, off: VariantResult, on: VariantResult, claim: OptimisationClaim?
    )
        -> [OptimisationDelta]
    {
        var rows: [OptimisationDelta] = []
        var scopes: [(TransferClass?, ClassResult?, ClassResult?)] = [
            (nil, ClassResult.total(off.classes), ClassResult.total(on.classes))
        ]
        for result in off.classes {
            scopes.append((result.transferClass, result, on.result(for: result.transferClass)))
        }
        for (transferClass, offResult, onResult) in scopes {
            guard let offResult, let onResult else { continue }
            let offE2E = offResult.histogram(.endToEnd)
            let onE2E = onResult.histogram(.endToEnd)
            let claimHere = claim.flatMap { $0.transferClass == transferClass ? $0 : nil }
            rows.append(
                OptimisationDelta(
                    optimisation: key, offVariant: off.name, onVariant: on.name, transferClass: transferClass,
                    tps: (
                        offResult.tps(durationSeconds: off.durationSeconds),
                        onResult.tps(durationSeconds: on.durationSeconds)
                    ),
                    p50Micros: (offE2E.valueAtPercentile(50), onE2E.valueAtPercentile(50)),
                    p99Micros: (offE2E.valueAtPercentile(99), onE2E.valueAtPercentile(99)),
                    claim: claimHere,
                    cost: claimHere != nil && key == "async_replication" ? lossReport(on) : nil))
        }
        return rows
    }

    /// What an async-replication variant lost: counters named `*lost*` and durability checks.
    private static func lossReport(_ variant: VariantResult) -> String {
        var parts: [String] = []
        for (name, value) in variant.counters.sorted(by: { $0.key < $1.key })
        where name.contains("lost") {
            parts.append("\(name) = \(Format.number(value))")
        }
        for check in variant.checks where check.name.lowercased().contains("durab") {
            parts.append("\(check.name): \(check.passed ? "PASS" : "FAIL") (\(check.detail))")
        }
        return parts.isEmpty
            ? "no loss counter or durability check reported: the cost is not shown"
            : parts.joined(separator: "; ")
    }
}
