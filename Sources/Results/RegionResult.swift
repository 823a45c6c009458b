import WorkloadSpec

/// The measured figures of one region in one variant: every transfer whose client's home region
/// it is, per class (histograms per layer, counts, aborts, retries, as ``ClassResult``).
///
/// A variant's regions partition its transfers: the classes of all its regions, merged, are the
/// variant's classes.
public struct RegionResult: Sendable, Equatable, Codable {
    /// The region's name, as the spec declares it.
    public var region: String
    /// Per-class results of the transfers issued from this region, in class order (empty when
    /// the region issued none).
    public var classes: [ClassResult]

    /// A region result from its parts.
    public init(region: String, classes: [ClassResult]) {
        self.region = region
        self.classes = classes
    }

    /// Every class of the region merged into one figure, or `nil` when it issued no transfer.
    public var total: ClassResult? { ClassResult.total(classes) }

    /// Committed transfers over all classes.
    public var committed: Int { classes.reduce(0) { $0 + $1.committed } }

    /// Transfers issued over all classes (committed, rejected and failed).
    public var transfers: Int { classes.reduce(0) { $0 + $1.count } }

    /// Committed transfers per second over a measured window of `durationSeconds`.
    public func tps(durationSeconds: Double) -> Double {
        durationSeconds > 0 ? Double(committed) / durationSeconds : 0
    }

    /// Merges results per region (any number of each, from any number of clients or shards):
    /// the regions in the order they first appear, each one's classes merged.
    public static func merged(_ results: [RegionResult]) -> [RegionResult] {
        var order: [String] = []
        var byRegion: [String: [ClassResult]] = [:]
        for result in results {
            if byRegion[result.region] == nil { order.append(result.region) }
            byRegion[result.region, default: []] += result.classes
        }
        return order.map { RegionResult(region: $0, classes: ClassResult.merged(byRegion[$0] ?? [])) }
    }
}
