/// Isolation levels, with the anomalies each allows (each claim has a test in
/// `Tests/RuntimeTests/IsolationTests.swift`). Reads are point reads by key; there are no
/// range reads, so phantoms cannot arise at any level.
///
/// | anomaly                      | read committed | repeatable read | serializable |
/// |------------------------------|----------------|-----------------|--------------|
/// | dirty read                   | prevented      | prevented       | prevented    |
/// | non-repeatable read          | allowed        | prevented       | prevented    |
/// | lost update (read, then write)| allowed*      | prevented (40001) | prevented (40001) |
/// | write skew                   | allowed        | allowed         | prevented (40001) |
///
/// (*) `readForUpdate` (SELECT ... FOR UPDATE) prevents it at read committed: the row is locked
/// first and then read at its newest committed version.
public enum IsolationLevel: String, Sendable, Hashable, CaseIterable, Codable {
    /// A new snapshot for every read; writes lock and overwrite the newest committed version.
    case readCommitted = "read_committed"
    /// Snapshot isolation: one snapshot per transaction, first-updater-wins on writes.
    case repeatableRead = "repeatable_read"
    /// Snapshot isolation plus serializable-snapshot-isolation checks: a transaction with both an
    /// incoming and an outgoing rw-antidependency (a pivot) fails with 40001.
    case serializable
}
