import Storage

/// What the audit is checked against.
public struct AuditExpectation: Sendable {
    /// Accounts loaded.
    public var accounts: Int
    /// The balance each started with.
    public var initialBalance: Int64
    /// Whether balances may go negative.
    public var overdraft: Bool
    /// Every acknowledged transfer: (request id, the xid that committed it) pairs, ids unique.
    public var acknowledged: AcknowledgedTransfers
    /// The crash to simulate before recovery.
    public var crash: AuditCrash

    /// Creates an expectation.
    public init(
        accounts: Int, initialBalance: Int64, overdraft: Bool, acknowledged: AcknowledgedTransfers,
        crash: AuditCrash = .powerFailure
    ) {
        self.accounts = accounts
        self.initialBalance = initialBalance
        self.overdraft = overdraft
        self.acknowledged = acknowledged
        self.crash = crash
    }

    /// Creates an expectation from a dictionary of request id -> committing xid.
    public init(
        accounts: Int, initialBalance: Int64, overdraft: Bool, acknowledged: [UInt64: TransactionID],
        crash: AuditCrash = .powerFailure
    ) {
        self.init(
            accounts: accounts, initialBalance: initialBalance, overdraft: overdraft,
            acknowledged: AcknowledgedTransfers(acknowledged), crash: crash)
    }
}

/// The crash an audit simulates before it recovers every node.
public enum AuditCrash: Sendable, Hashable {
    /// The process dies; the OS page cache survives, so written but unsynced data is kept.
    case process
    /// Power is lost: whatever was not fsynced is gone.
    case powerFailure
}
