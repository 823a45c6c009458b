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
