import Histogram
import Results
import WorkloadSpec

/// The seed's claims for the three optimisations held against a run, per class: for each switch,
/// each pair of variants that differ only in it, and each class both ran, the measured change of
/// the claim's metric next to the claim and a verdict, whatever the measurement says.
public enum SeedClaims {
    /// A claim of the seed about one switch.
    public struct Claim: Sendable, Equatable {
        /// The switch, a variant parameter (`locality`, `batch_commit`, `async_replication`).
        public var optimisation: String
        /// The metric: the median latency or the TPS.
        public var metric: OptimisationClaim.Metric
        /// The claimed change from off to on in percent (`-93`, `+300`).
        public var changePercent: Double
        /// The claim as the seed states it.
        public var text: String
    }

    /// The seed's claims (DESIGN.md, "Optimisations").
    public static let claims: [Claim] = [
        Claim(optimisation: "locality", metric: .p50, changePercent: -93, text: "latency 150 ms -> 10 ms (-93 %)"),
        Claim(optimisation: "batch_commit", metric: .tps, changePercent: 300, text: "TPS +300 %"),
        Claim(
            optimisation: "async_replication", metric: .p50, changePercent: -50, text: "latency 10 ms -> 5 ms (-50 %)"),
    ]

    /// One switch x pair x class.
    public struct Row: Sendable, Equatable {
        /// The claim tested.
        public var claim: Claim
        /// The variant with the switch off.
        public var offVariant: String
        /// The variant with the switch on.
        public var onVariant: String
        /// The class compared.
        public var transferClass: TransferClass
        /// The metric off and on (microseconds for the median, transfers per second for TPS).
        public var off: Double
        /// The metric with the switch on.
        public var on: Double
        /// The client region compared (nil: every region's transfers together). A class's p50 over
        /// all regions is dominated by the region whose clients complete the most transfers (a
        /// closed loop's fast clients), so latency claims are also held per client region.
        public var clientRegion: String? = nil

        /// The measured change in percent; `nil` when it cannot be measured: no success on either
        /// side for a latency (a median of nothing), none with the switch off for TPS.
        public var measuredChangePercent: Double? {
            if claim.metric == .p50 && on == 0 { return nil }
            return Delta.percent(from: off, to: on)
        }

        /// Whether the measured change is at least the claimed one, in the claimed direction.
        public var met: Bool {
            guard let measured = measuredChangePercent else { return false }
            return claim.changePercent < 0 ? measured <= claim.changePercent : measured >= claim.changePercent
        }

        /// `met (-95.1 %)`, `not met (-40.0 %)`, or `not measured` when the class had no
        /// successes to compare (for example a class the engine refused).
        public var verdict: String {
            guard let measured = measuredChangePercent else { return "not measured (no committed transfers)" }
            return (met ? "met" : "not met") + " (\(Format.signedPercent(measured)))"
        }
    }

    /// The rows of a run, by switch in claim order, then pair, then class.
    public static func rows(_ run: RunResult) -> [Row] {
        let deltas = OptimisationDelta.deltas(run, claims: [])
        var rows: [Row] = []
        for claim in claims {
            for delta in deltas where delta.optimisation == claim.optimisation {
                guard let transferClass = delta.transferClass else { continue }
                let (off, on): (Double, Double) =
                    switch claim.metric {
                    case .p50: (Double(delta.p50Micros.off), Double(delta.p50Micros.on))
                    case .tps: (delta.tps.off, delta.tps.on)
                    }
                rows.append(
                    Row(
                        claim: claim, offVariant: delta.offVariant, onVariant: delta.onVariant,
                        transferClass: transferClass, off: off, on: on))
                guard claim.metric == .p50,
                    let offVariant = run.variants.first(where: { $0.name == delta.offVariant }),
                    let onVariant = run.variants.first(where: { $0.name == delta.onVariant }),
                    offVariant.regions.count > 1
                else { continue }
                for offRegion in offVariant.regions {
                    guard let onRegion = onVariant.regions.first(where: { $0.region == offRegion.region }),
                        let offClass = offRegion.classes.first(where: { $0.transferClass == transferClass }),
                        let onClass = onRegion.classes.first(where: { $0.transferClass == transferClass }),
                        offClass.histogram(.endToEnd).totalCount > 0, onClass.histogram(.endToEnd).totalCount > 0
                    else { continue }
                    var row = Row(
                        claim: claim, offVariant: delta.offVariant, onVariant: delta.onVariant,
                        transferClass: transferClass, off: Double(offClass.percentileMicros(50)),
                        on: Double(onClass.percentileMicros(50)))
                    row.clientRegion = offRegion.region
                    rows.append(row)
                }
            }
        }
        return rows
    }
}
