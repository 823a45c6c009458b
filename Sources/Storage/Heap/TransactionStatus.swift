/// The state of a transaction as the commit log records it.
public enum TransactionStatus: UInt8, Sendable, Hashable {
    /// Running (or unknown to the log: never committed, so never visible).
    case inProgress = 0
    /// Committed: its versions are visible to snapshots taken after the commit.
    case committed = 1
    /// Aborted: its versions are dead and vacuum removes them.
    case aborted = 2
    /// Prepared for two-phase commit: durable, holds its locks, awaits a decision.
    case prepared = 3
}
