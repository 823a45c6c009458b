import Storage

/// What a transaction body may do: the operations shared by a `Transaction` and a member of a
/// commit batch, so one transfer body runs either way.
public protocol TransactionContext: Sendable {
    /// The id of the transaction the operations run in.
    var xid: TransactionID { get }
    /// Reads a row as the isolation level sees it.
    func read(_ key: AccountID) async throws(TransactionError) -> Row?
    /// Locks a row, then reads it (SELECT ... FOR UPDATE).
    func readForUpdate(_ key: AccountID, wait: LockWait?) async throws(TransactionError) -> Row?
    /// Writes a row.
    func write(_ key: AccountID, _ row: Row, wait: LockWait?) async throws(TransactionError)
}

extension Transaction: TransactionContext {}
