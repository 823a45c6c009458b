import Histogram
import Results
import WorkloadSpec

extension SummaryMarkdown {
    /// Per region: the transfers issued by its clients, their TPS, and end-to-end and per-layer
    /// p50 and p99 (every class merged). Empty for runs without per-region results.
    static func regions(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        for variant in run.variants {
            for region in variant.regions {
                var row = [
                    variant.name, region.region, String(region.transfers), String(region.committed),
                    Format.number(region.tps(durationSeconds: variant.durationSeconds)),
                ]
                let total = region.total
                for layer in MetricLayer.allCases {
                    guard let total, total.histogram(layer).totalCount > 0 else {
                        row += ["", ""]
                        continue
                    }
                    row.append(Format.millis(total.percentileMicros(50, layer: layer)))
                    row.append(Format.millis(total.percentileMicros(99, layer: layer)))
                }
                row.append(String(total?.errors ?? 0))
                row.append(String(total?.retries ?? 0))
                rows.append(row)
            }
        }
        guard !rows.isEmpty else { return [] }
        return [
            "## Results by region", "",
            "Transfers by the home region of the client that issued them (every class merged); the "
                + "regions of a variant add up to its totals. Percentiles of each layer are its own "
                + "(they do not add up).", "",
        ]
            + table(
                [
                    "variant", "region", "transfers", "committed", "TPS", "p50 ms", "p99 ms", "L2 p50 ms",
                    "L2 p99 ms", "L1 p50 ms", "L1 p99 ms", "L0 p50 ms", "L0 p99 ms", "errors", "retries",
                ], rows, rightAligned: Set(2...14))
    }

    /// The per-node counters of replication shown in ``replication(_:)``, with their titles.
    static let replicationCounters: [(name: String, title: String)] = [
        ("raft_messages_sent", "msgs sent"), ("raft_messages_received", "msgs received"),
        ("raft_bytes_sent", "bytes replicated"), ("raft_entries_persisted", "entries persisted"),
        ("raft_entries_applied", "entries applied"), ("raft_append_batches", "append batches"),
        ("raft_fsyncs", "fsyncs"), ("raft_elections", "elections"), ("raft_leader_changes", "leader changes"),
        ("raft_proposals_acknowledged", "proposals acked"), ("raft_acknowledged_lost", "acked lost"),
    ]

    /// Replication counters per region (its replicas summed) and per replica, over the measured
    /// window: the Raft counters each node reports. Empty when no node reports any.
    static func replication(_ run: RunResult) -> [String] {
        let present = replicationCounters.filter { counter in
            run.variants.contains { variant in variant.nodeCounters.values.contains { $0[counter.name] != nil } }
        }
        guard !present.isEmpty else { return [] }
        var rows: [[String]] = []
        for variant in run.variants where !variant.nodeCounters.isEmpty {
            var byRegion: [String: [String]] = [:]
            var order: [String] = variant.regions.map(\.region)
            for node in variant.nodeCounters.keys {
                let region = Self.region(ofNode: node)
                if !order.contains(region) { order.append(region) }
                byRegion[region, default: []].append(node)
            }
            for region in order {
                guard let nodes = byRegion[region]?.sorted() else { continue }
                func cells(_ values: [[String: Double]]) -> [String] {
                    present.map { counter in
                        let found = values.compactMap { $0[counter.name] }
                        return found.isEmpty ? "" : Format.number(found.reduce(0, +))
                    }
                }
                rows.append(
                    [variant.name, "**\(region)**"] + cells(nodes.compactMap { variant.nodeCounters[$0] }))
                for node in nodes {
                    rows.append([variant.name, node] + cells([variant.nodeCounters[node] ?? [:]]))
                }
            }
        }
        return [
            "## Replication by region and replica", "",
            "Raft counters over the measured window: each region (its replicas summed, in bold), then each "
                + "replica.", "",
        ]
            + table(
                ["variant", "region / replica"] + present.map(\.title), rows, rightAligned: Set(2...(present.count + 1))
            )
    }

    /// The region of a node named `region/node-i` (the whole name when it has no `/`).
    static func region(ofNode node: String) -> String {
        guard let slash = node.lastIndex(of: "/") else { return node }
        return String(node[..<slash])
    }
}
