/// A node of the engine: a replica of a region (`us-east/node-1`).
public struct NodeID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The region's name, as the spec declares it.
    public var region: String
    /// The replica's index in its region, from 0.
    public var replica: Int

    /// Creates a node id.
    public init(region: String, replica: Int) {
        self.region = region
        self.replica = replica
    }

    /// `region/node-replica`, as the node's data directory is named.
    public var description: String { "\(region)/node-\(replica)" }

    /// By region name, then replica.
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
        (lhs.region, lhs.replica) < (rhs.region, rhs.replica)
    }
}
