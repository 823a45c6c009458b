import Storage

/// The audit's findings, after a crash and recovery of every node.
public struct AuditReport: Sendable, Hashable {
    /// Sum of all balances expected (accounts x initial balance) and found.
    public var expectedTotal: Int64
    /// The sum found.
    public var actualTotal: Int64
    /// Accounts with a negative balance.
    public var negativeAccounts: Int
    /// Acknowledged transfers audited.
    public var acknowledged: Int
    /// Acknowledged transfers whose ledger row is missing after recovery (lost).
    public var lost: Int
    /// Ledger rows whose `xmin` differs from the transaction id L1 reported (identity broken).
    public var xidMismatches: Int
    /// Accounts whose balance differs from initial + credits - debits in the ledger
    /// (a transfer applied other than exactly once).
    public var balanceMismatches: Int
    /// Committed-state hash of each node.
    public var stateHashes: [NodeID: UInt64]
    /// What recovery did on each node (empty for a backend that keeps no state).
    public var recoveries: [NodeID: NodeRecovery]
    /// Accounts present after recovery (fewer than loaded when a power failure took unsynced loads).
    public var accountsFound: Int
    /// The replicated-log index each replica had applied when its state hash was taken (empty
    /// for unreplicated nodes). Replicas of a region whose applied indexes are equal must have
    /// equal hashes; the audit brings them level (catch-up) first.
    public var appliedIndexes: [NodeID: UInt64] = [:]
    /// Committed versions on any replica whose `xmin` is not the timestamp its leader reported
    /// (the identity L2 timestamp = L1 xid = L0 xmin, checked on every replica, not only the
    /// leader whose ledger is audited).
    public var replicaXidMismatches: Int = 0
    /// Acknowledged transfers a failover lost under async replication (counted, never hidden;
    /// always 0 under sync replication, else durability failed).
    public var acknowledgedLostInFailover: Int = 0
    /// Transactions still prepared on some replica after recovery and in-doubt resolution (must be
    /// 0: no prepared state is ever left behind).
    public var preparedRemaining: Int = 0
    /// Row locks still held on some replica after recovery and in-doubt resolution (must be 0).
    public var locksHeld: Int = 0
    /// In-doubt transactions the audit's recovery resolved (committed or aborted from their
    /// coordinator's record).
    public var inDoubtResolved: Int = 0

    /// Creates a report.
    public init(
        expectedTotal: Int64, actualTotal: Int64 = 0, negativeAccounts: Int = 0, acknowledged: Int, lost: Int = 0,
        xidMismatches: Int = 0, balanceMismatches: Int = 0, stateHashes: [NodeID: UInt64] = [:],
        recoveries: [NodeID: NodeRecovery] = [:], accountsFound: Int = 0
    ) {
        self.expectedTotal = expectedTotal
        self.actualTotal = actualTotal
        self.negativeAccounts = negativeAccounts
        self.acknowledged = acknowledged
        self.lost = lost
        self.xidMismatches = xidMismatches
        self.balanceMismatches = balanceMismatches
        self.stateHashes = stateHashes
        self.recoveries = recoveries
        self.accountsFound = accountsFound
    }
}

/// What crash recovery did on one node.
public struct NodeRecovery: Sendable, Hashable {
    /// Whether a checkpoint was loaded (else replay started from an empty state).
    public var checkpointLoaded: Bool
    /// The log position replay started from (the checkpoint's redo point; 0 without one).
    public var redoPosition: UInt64
    /// Log records replayed.
    public var recordsReplayed: Int
    /// Transactions whose commit was replayed.
    public var committedReplayed: Int
    /// Transactions in progress at the crash, now aborted.
    public var abortedInProgress: Int
    /// Prepared transactions restored (they hold their locks and await a decision).
    public var preparedRestored: Int
    /// Bytes of torn or corrupt log tail cut off.
    public var truncatedBytes: Int

    /// Creates a recovery record.
    public init(
        checkpointLoaded: Bool, redoPosition: UInt64 = 0, recordsReplayed: Int, committedReplayed: Int,
        abortedInProgress: Int, preparedRestored: Int, truncatedBytes: Int
    ) {
        self.checkpointLoaded = checkpointLoaded
        self.redoPosition = redoPosition
        self.recordsReplayed = recordsReplayed
        self.committedReplayed = committedReplayed
        self.abortedInProgress = abortedInProgress
        self.preparedRestored = preparedRestored
        self.truncatedBytes = truncatedBytes
    }

    /// The record of a storage engine's recovery.
    public init(_ report: RecoveryReport) {
        self.init(
            checkpointLoaded: report.checkpointLoaded, redoPosition: UInt64(report.redoLSN),
            recordsReplayed: report.recordsReplayed, committedReplayed: report.committedReplayed,
            abortedInProgress: report.abortedInProgress, preparedRestored: report.preparedRestored,
            truncatedBytes: report.truncatedBytes)
    }
}
