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
