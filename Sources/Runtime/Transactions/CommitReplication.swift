import Storage

/// How a runtime over a replica's storage commits (DESIGN.md, "Replication"): the transaction's
/// write set goes through the region's replicated log, and the replica commits it in storage
/// (`StorageEngine.commitReplicated`) once the log acknowledges it.
public protocol CommitReplication: Sendable {
    /// Replicates running transaction `xid`'s `writes` and commits it in storage; returns once it
    /// is acknowledged (committed by a quorum under sync replication, persisted by the leader under
    /// async). Throws 57P01 when this node cannot commit it (not the leader, stopped, superseded by
    /// another leader): the transaction is then still running in storage, or never committed here,
    /// and the caller aborts it.
    func replicateCommit(_ xid: TransactionID, writes: [ReplicatedWrite]) async throws(TransactionError)
        -> ReplicationReceipt
}

/// Where a replicated commit's wait went.
public struct ReplicationReceipt: Sendable, Hashable {
    /// The leader's own log append and fsync (L0: `walFlush`).
    public var logNanos: UInt64
    /// Waiting beyond it for the followers (network and their fsyncs; L2: `replication`).
    public var replicationNanos: UInt64

    /// Creates a receipt.
    public init(logNanos: UInt64, replicationNanos: UInt64) {
        self.logNanos = logNanos
        self.replicationNanos = replicationNanos
    }
}
