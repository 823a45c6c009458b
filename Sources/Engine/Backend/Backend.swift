import Runtime
import Storage

/// What the workload driver talks to: an assembled engine of regions and nodes, embedded in this
/// process or made of real PostgreSQL servers. The driver knows nothing else about the engine.
public protocol Backend: Sendable {
    /// The backend's name (`embedded`, `postgres`) and shape, for reports.
    var name: String { get }
    /// Creates the accounts `0..<count`, each with `initialBalance`, in one transaction per
    /// `batchSize` accounts. Returns the number created.
    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    /// Executes one transfer (with the runtime's retries) and reports its outcome and trace. A
    /// request no bank would execute (`from == to`, an unknown account, an amount <= 0) fails
    /// with SQLSTATE 22023 (`TransferResult.invalidInputSQLState`) before any write.
    func transfer(_ request: TransferRequest) async -> TransferResult
    /// Cumulative counters (fsyncs, WAL bytes, retries, ...): the driver reports differences.
    func counters() -> [String: Double]
    /// Instantaneous gauges (pool high-water, heap versions, ...): reported as read at the end.
    func gauges() -> [String: Double]
    /// Crash-and-recover every node, then audit the state against the acknowledged transfers:
    /// conservation, negative balances, ledger (durability, exactly-once, xid identity).
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport
    /// Stops every node and removes nothing (the caller owns the data directories).
    func shutdown() async throws
}

/// One transfer the driver asks for.
public struct TransferRequest: Sendable, Hashable {
    /// Unique across the run (and its shards): the ledger row's key.
    public var id: UInt64
    /// The account debited.
    public var from: AccountID
    /// The account credited.
    public var to: AccountID
    /// The amount moved (positive).
    public var amount: Int64
    /// The region index of the client issuing it.
    public var clientRegion: Int

    /// Creates a request.
    public init(id: UInt64, from: AccountID, to: AccountID, amount: Int64, clientRegion: Int = 0) {
        self.id = id
        self.from = from
        self.to = to
        self.amount = amount
        self.clientRegion = clientRegion
    }
}

/// What became of a transfer.
public struct TransferResult: Sendable, Hashable {
    /// How it ended.
    public enum Outcome: Sendable, Hashable {
        /// Committed and acknowledged (durable per the durability setting).
        case committed
        /// Refused by the business rule (insufficient funds): not an engine error.
        case rejected
        /// Failed with this SQLSTATE after the retries the policy allowed (22023: invalid input,
        /// refused before any write).
        case failed(sqlState: String)
    }

    /// The SQLSTATE of a refused request (22023, invalid parameter value): a transfer to the same
    /// account, to an unknown account, or of a non-positive amount. Reports count it as invalid
    /// input, not as an engine failure.
    public static let invalidInputSQLState = TransactionError.Code.invalidParameterValue.rawValue

    /// Whether the request was refused as invalid input before any write.
    public var isInvalidInput: Bool { outcome == .failed(sqlState: Self.invalidInputSQLState) }

    /// The outcome.
    public var outcome: Outcome
    /// Retried attempts' SQLSTATEs, in order.
    public var retriedErrors: [String]
    /// End-to-end nanoseconds, from the call (or the intended start, for open loop, added by
    /// the driver) to the acknowledgement.
    public var endToEndNanos: UInt64
    /// Nanoseconds attributed to L2, L1 and L0; `l2 + l1 + l0 == endToEndNanos`.
    public var l2Nanos: UInt64
    /// L1's share.
    public var l1Nanos: UInt64
    /// L0's share.
    public var l0Nanos: UInt64
    /// The transaction id that committed it (0 if none): L2 timestamp = L1 id = L0 xmin.
    public var xid: TransactionID

    init(_ outcome: Outcome, retried: [String], trace: Trace, endToEnd: UInt64, xid: TransactionID) {
        var closed = trace
        closed.closeExecution(endToEndNanos: endToEnd)
        self.outcome = outcome
        self.retriedErrors = retried
        self.l2Nanos = closed.nanos(of: .l2)
        self.l1Nanos = closed.nanos(of: .l1)
        self.l0Nanos = closed.nanos(of: .l0)
        // Spans are measured one after another, so they never exceed the end-to-end time; if a
        // clock step ever made them, the end-to-end time is their sum, keeping the identity.
        self.endToEndNanos = max(endToEnd, l2Nanos &+ l1Nanos &+ l0Nanos)
        self.l1Nanos &+= self.endToEndNanos &- (l2Nanos &+ l1Nanos &+ l0Nanos)
        self.xid = xid
        // The per-layer identity every report relies on, for every recorded transfer.
        precondition(
            l2Nanos <= endToEndNanos && l0Nanos <= endToEndNanos && l2Nanos + l1Nanos + l0Nanos == endToEndNanos,
            "L2 \(l2Nanos) + L1 \(l1Nanos) + L0 \(l0Nanos) != end-to-end \(endToEndNanos)")
    }
}

/// What the audit is checked against.
public struct AuditExpectation: Sendable {
    /// Accounts loaded.
    public var accounts: Int
    /// The balance each started with.
    public var initialBalance: Int64
    /// Whether balances may go negative.
    public var overdraft: Bool
    /// Every acknowledged transfer: request id -> the xid that committed it.
    public var acknowledged: [UInt64: TransactionID]
    /// The crash to simulate before recovery.
    public var crash: AuditCrash

    /// Creates an expectation.
    public init(
        accounts: Int, initialBalance: Int64, overdraft: Bool, acknowledged: [UInt64: TransactionID],
        crash: AuditCrash = .powerFailure
    ) {
        self.accounts = accounts
        self.initialBalance = initialBalance
        self.overdraft = overdraft
        self.acknowledged = acknowledged
        self.crash = crash
    }
}

/// The crash an audit simulates before it recovers every node.
public enum AuditCrash: Sendable, Hashable {
    /// The process dies; the OS page cache survives, so written but unsynced data is kept.
    case process
    /// Power is lost: whatever was not fsynced is gone.
    case powerFailure
}

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
    /// Committed-state hash of each node, by node name.
    public var stateHashes: [String: UInt64]
    /// What recovery did on each node, as text.
    public var recoveries: [String: String]
    /// Accounts present after recovery (fewer than loaded when a power failure took unsynced loads).
    public var accountsFound: Int = 0
}
