/// A node's place in the simulated WAN: its region and its index there.
package struct NodeAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let region: Int
    package let node: Int

    package init(region: Int, node: Int) {
        self.region = region
        self.node = node
    }

    package static func < (a: Self, b: Self) -> Bool { (a.region, a.node) < (b.region, b.node) }
    package var description: String { "r\(region)n\(node)" }
}

/// Inside one region, or between two.
package enum LinkClass: String, Sendable, Hashable, CaseIterable {
    case intraRegion = "intra_region"
    case interRegion = "inter_region"
}

/// The round-trip times of the simulated WAN: a symmetric matrix between regions and one RTT inside a
/// region, in nanoseconds.
package struct NetworkTopology: Sendable, Equatable {
    /// `rttNanos[a][b]`: the round trip between regions a and b (a != b).
    package let rttNanos: [[UInt64]]
    package let intraRegionRTTNanos: UInt64

    /// Throws when the matrix is not square and symmetric.
    package init(rttNanos: [[UInt64]], intraRegionRTTNanos: UInt64) throws(TopologyError) {
        for (a, row) in rttNanos.enumerated() {
            guard row.count == rttNanos.count else { throw .notSquare(row: a) }
            for b in row.indices where rttNanos[b][a] != row[b] {
                throw .notSymmetric(a, b)
            }
        }
        self.rttNanos = rttNanos
        self.intraRegionRTTNanos = intraRegionRTTNanos
    }

    package enum TopologyError: Error, Equatable {
        case notSquare(row: Int)
        case notSymmetric(Int, Int)
    }

    package var regionCount: Int { rttNanos.count }

    package func linkClass(_ a: NodeAddress, _ b: NodeAddress) -> LinkClass {
        a.region == b.region ? .intraRegion : .interRegion
    }

    /// The one-way delay between two nodes before jitter: half their regions' round trip.
    package func oneWayNanos(_ a: NodeAddress, _ b: NodeAddress) -> UInt64 {
        (a.region == b.region ? intraRegionRTTNanos : rttNanos[a.region][b.region]) / 2
    }
}
