/// The three kinds of bank transfer a workload mixes (DESIGN.md, "Transfer classes").
///
/// The raw values are the spellings used in specs, CSV columns and `run.json`.
public enum TransferClass: String, Codable, CaseIterable, Hashable, Sendable, Comparable {
    /// Both accounts homed in the client's region.
    case singleRegion = "single_region"
    /// The two accounts in two different regions (2PC over two).
    case crossRegion = "cross_region"
    /// A multi-leg transfer touching every region, with a global timestamp.
    case global

    /// Orders classes as they are declared, for stable report tables.
    public static func < (lhs: TransferClass, rhs: TransferClass) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What a latency figure measures: the whole transaction or one layer's self time on its
/// critical path. For every transaction `l2 + l1 + l0 == endToEnd`.
public enum MetricLayer: String, Codable, CaseIterable, Hashable, Sendable {
    /// End-to-end latency as the client sees it.
    case endToEnd = "e2e"
    /// L2 distributed: clocks, 2PC rounds, replication waits.
    case l2 = "L2"
    /// L1 runtime: pool wait, begin, execution, retry backoff, batch wait.
    case l1 = "L1"
    /// L0 storage: lock wait, MVCC reads and writes, WAL append and fsync.
    case l0 = "L0"
}
