import Foundation
import Histogram
import Results
import WorkloadSpec

/// The critical-path minimum of a transfer (DESIGN.md, "Commit paths and their critical-path
/// minimum"), from the spec's round trips and a measured fsync time per region.
///
/// With W(g) = RTT(coordinator, leader of g) + C(g), where the RTT is 0 for the coordinator's own
/// region (the coordinator runs at its leader), C(g) = max(leader fsync, intra-region RTT +
/// follower fsync) under sync replication (the leader fsync alone for a 1-replica region, and
/// under async replication), and T = RTT(coordinator region, home region) under `timestamps:
/// tso` (0 when they coincide; 0 under HLC):
/// - locality on, single region: T + C(client region), one phase at the local leader;
/// - locality off, every class: RTT(client region, home region) + T + max over the participants
///   of W(g) + C(home region), the coordinator being the home region (the first);
/// - locality on, cross-region and global: T + max over the participants of W(g) + C(client
///   region), the coordinator being the client's region.
/// Participants: the client's region for single-region transfers; it and the destination for
/// cross-region ones (the minimum is the mean over the destinations, uniform over the other
/// regions); every region for global ones.
public struct CriticalPath: Sendable, Equatable {
    /// The regions' names, in spec order (the first is the home region).
    public var regions: [String]
    /// Replicas per region.
    public var replicas: [Int]
    /// Round trips between regions in milliseconds (`[a][b]`; the diagonal is unused).
    public var rttMillis: [[Double]]
    /// The round trip between two nodes of one region in milliseconds.
    public var intraRegionRTTMillis: Double
    /// Where timestamps come from.
    public var timestamps: WorkloadSpec.TimestampSource

    /// A model from its parts.
    public init(
        regions: [String], replicas: [Int], rttMillis: [[Double]], intraRegionRTTMillis: Double,
        timestamps: WorkloadSpec.TimestampSource
    ) {
        precondition(regions.count == replicas.count && regions.count == rttMillis.count, "one entry per region")
        self.regions = regions
        self.replicas = replicas
        self.rttMillis = rttMillis
        self.intraRegionRTTMillis = intraRegionRTTMillis
        self.timestamps = timestamps
    }

    /// The model of a spec's topology.
    public init(spec: WorkloadSpec) {
        let names = spec.regions.map(\.name)
        self.init(
            regions: names, replicas: spec.regions.map(\.replicas),
            rttMillis: names.map { a in
                names.map { b in a == b ? 0 : Self.millis(spec.network.rtt(between: a, and: b)) }
            },
            intraRegionRTTMillis: Self.millis(spec.network.intraRegionRTT), timestamps: spec.timestamps)
    }

    static func millis(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e3 + Double(attoseconds) / 1e15
    }

    /// The round trip between the leaders of two regions (0 within one: the coordinator runs at
    /// its region's leader).
    func rtt(_ a: Int, _ b: Int) -> Double { a == b ? 0 : rttMillis[a][b] }

    /// C(g): making an entry durable in region `g`.
    func commit(_ g: Int, asyncReplication: Bool, fsync: [Double]) -> Double {
        if replicas[g] <= 1 || asyncReplication { return fsync[g] }
        return max(fsync[g], intraRegionRTTMillis + fsync[g])
    }

    /// T: the timestamp from a coordinator in region `coordinator`.
    func timestamp(coordinator: Int) -> Double {
        timestamps == .tso ? rtt(coordinator, 0) : 0
    }

    /// The minimum in milliseconds of a transfer of `transferClass` issued from `client` (a
    /// region index), with `fsyncMillis` the fsync time of each region's replicas.
    public func minimumMillis(
        _ transferClass: TransferClass, client: Int, locality: Bool, asyncReplication: Bool, fsyncMillis: [Double]
    ) -> Double {
        precondition(fsyncMillis.count == regions.count, "one fsync time per region")
        let others = regions.indices.filter { $0 != client }
        let participantSets: [[Int]] =
            switch transferClass {
            case .singleRegion: [[client]]
            case .crossRegion: others.isEmpty ? [[client]] : others.map { [client, $0] }
            case .global: [Array(regions.indices)]
            }
        func c(_ g: Int) -> Double { commit(g, asyncReplication: asyncReplication, fsync: fsyncMillis) }
        func path(_ participants: [Int]) -> Double {
            if locality && transferClass == .singleRegion {
                return timestamp(coordinator: client) + c(client)
            }
            let coordinator = locality ? client : 0
            let gateway = locality ? 0 : rtt(client, 0)
            let prepare = participants.map { rtt(coordinator, $0) + c($0) }.max() ?? 0
            return gateway + timestamp(coordinator: coordinator) + prepare + c(coordinator)
        }
        let paths = participantSets.map(path)
        return paths.reduce(0, +) / Double(paths.count)
    }

    /// The mean fsync time in milliseconds of each region's replicas, from per-node counters
    /// (`region/node-i`): each replica's `raft_append_fsync_ms / raft_fsyncs`, or for a replica
    /// without Raft its WAL's `wal_fsync_ms / fsyncs`; replicas that did not fsync are left out.
    /// A region with no measured replica is absent.
    public static func fsyncMillis(nodeCounters: [String: [String: Double]]) -> [String: Double] {
        var perRegion: [String: [Double]] = [:]
        for (node, counters) in nodeCounters {
            let region = SummaryMarkdown.region(ofNode: node)
            if let fsyncs = counters["raft_fsyncs"], fsyncs > 0, let ms = counters["raft_append_fsync_ms"] {
                perRegion[region, default: []].append(ms / fsyncs)
            } else if let fsyncs = counters["fsyncs"], fsyncs > 0, let ms = counters["wal_fsync_ms"] {
                perRegion[region, default: []].append(ms / fsyncs)
            }
        }
        return perRegion.mapValues { $0.reduce(0, +) / Double($0.count) }
    }
}

extension LatencyFidelity {
    /// The fidelity of a run: the spec (from the run's effective YAML) gives the round trips,
    /// each variant's per-node counters its fsync times, its per-region results the measured
    /// medians. `nil` when the spec cannot be read back or no variant has per-region results.
    public static func compute(_ run: RunResult) -> LatencyFidelity? {
        guard let spec = try? WorkloadSpec.decode(yaml: run.spec, file: "run.json spec"),
            run.variants.contains(where: { !$0.regions.isEmpty })
        else { return nil }
        let model = CriticalPath(spec: spec)
        var fidelity = LatencyFidelity()
        for variant in run.variants {
            let measured = CriticalPath.fsyncMillis(nodeCounters: variant.nodeCounters)
            fidelity.fsyncMillis[variant.name] = measured
            let fsync = model.regions.map { measured[$0] ?? 0 }
            let locality = variant.parameters["locality"] == "true"
            let async = variant.parameters["async_replication"] == "true"
            for transferClass in TransferClass.allCases {
                for region in variant.regions {
                    guard let client = model.regions.firstIndex(of: region.region),
                        let result = region.classes.first(where: { $0.transferClass == transferClass }),
                        result.histogram(.endToEnd).totalCount > 0
                    else { continue }
                    fidelity.rows.append(
                        Row(
                            variant: variant.name, transferClass: transferClass, clientRegion: region.region,
                            minimumMillis: model.minimumMillis(
                                transferClass, client: client, locality: locality, asyncReplication: async,
                                fsyncMillis: fsync),
                            measuredP50Millis: Double(result.percentileMicros(50)) / 1000,
                            transfers: Int(result.histogram(.endToEnd).totalCount),
                            measuredMeanMillis: result.histogram(.endToEnd).mean / 1000))
                }
            }
        }
        return fidelity
    }
}
