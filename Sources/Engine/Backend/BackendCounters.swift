/// Cumulative counters of a backend, per node (so per region too): fsyncs, WAL bytes, commits,
/// retries, ... by name. Reports show totals over the nodes; per-node values keep a replica or
/// region that does more (or less) than its share visible.
public struct BackendCounters: Sendable, Hashable {
    /// Each node's counters, by name.
    public var nodes: [NodeID: [String: Double]]

    /// Creates counters.
    public init(nodes: [NodeID: [String: Double]] = [:]) {
        self.nodes = nodes
    }

    /// Each counter summed over every node: the flat counters reports show.
    public var totals: [String: Double] {
        var totals: [String: Double] = [:]
        for counters in nodes.values {
            for (name, value) in counters { totals[name, default: 0] += value }
        }
        return totals
    }

    /// Each counter summed over the nodes of each region, by region name.
    public var regions: [String: [String: Double]] {
        var regions: [String: [String: Double]] = [:]
        for (node, counters) in nodes {
            for (name, value) in counters { regions[node.region, default: [:]][name, default: 0] += value }
        }
        return regions
    }

    /// What happened since `earlier`: each node's counters minus their value then (a counter or
    /// node that did not exist then counts from zero).
    public func subtracting(_ earlier: BackendCounters) -> BackendCounters {
        var result = self
        for (node, before) in earlier.nodes {
            guard var counters = result.nodes[node] else { continue }
            for (name, value) in before { counters[name] = (counters[name] ?? value) - value }
            result.nodes[node] = counters
        }
        return result
    }
}
