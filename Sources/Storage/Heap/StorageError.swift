/// Errors of the storage layer. Each names the transaction and, where one is involved, the row.
public enum StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The row is write-locked by another running (or prepared) transaction. L1 decides whether
    /// to wait for `holder`, time out (55P03) or fail.
    case rowLocked(key: AccountID, holder: TransactionID)
    /// First-updater-wins: the row's live version was committed by `by` after the writer's
    /// snapshot was taken (a serialization failure, 40001, under snapshot isolation).
    case concurrentUpdate(key: AccountID, by: TransactionID)
    /// `begin` was given an id not above every id this engine has seen: snapshots order
    /// transactions by id, so ids must increase. L2 retries with a later timestamp.
    case transactionIDNotIncreasing(TransactionID, highest: TransactionID)
    /// The transaction is not running (unknown, finished, or in the wrong state for the call).
    case notActive(TransactionID, status: String)
    /// An insert found a live version of the row (23505 unique violation at L1).
    case duplicateKey(key: AccountID)
    /// A payload exceeds `Row.maxPayloadBytes`.
    case payloadTooLarge(key: AccountID, bytes: Int)
    /// The engine was closed or crashed (57P01 admin shutdown / node lost, at L1).
    case closed
    /// An I/O failure, with the path and the operating system's message.
    case io(path: String, message: String)
    /// A checkpoint file failed its checksum or format check.
    case corruptCheckpoint(path: String, reason: String)
    /// A replicated prepare entry names a row that another prepared (or committing) transaction,
    /// `holder`, has locked: two transactions prepared on one row would both be allowed to commit,
    /// so the entry is refused and nothing of it applied. The replicated logs disagree with the
    /// locks: a bug above L0, not a conflict to retry.
    case rowLockedByPrepared(key: AccountID, holder: TransactionID)
    /// A commit timestamp below the prepared transaction's own id: snapshots order transactions by
    /// id, and a transaction's commit can only move later, never earlier, than its id.
    case commitTimestampBelowTransaction(TransactionID, commitTimestamp: TransactionID)
    /// A commit timestamp this engine already knows as another transaction's (committed, aborted,
    /// prepared, running, or an earlier push's): stamping it would merge two transactions.
    case commitTimestampInUse(TransactionID, commitTimestamp: TransactionID)

    public var description: String {
        switch self {
        case .rowLocked(let key, let holder): "row \(key) is locked by transaction \(holder)"
        case .concurrentUpdate(let key, let by):
            "could not serialize access: row \(key) was updated by transaction \(by) after the snapshot"
        case .transactionIDNotIncreasing(let xid, let highest):
            "transaction id \(xid) is not above the highest id seen (\(highest))"
        case .notActive(let xid, let status): "transaction \(xid) is not active (\(status))"
        case .duplicateKey(let key): "duplicate key: row \(key) already exists"
        case .payloadTooLarge(let key, let bytes):
            "payload of row \(key) is \(bytes) bytes, more than \(Row.maxPayloadBytes)"
        case .closed: "the storage engine is closed"
        case .io(let path, let message): "I/O error on \(path): \(message)"
        case .corruptCheckpoint(let path, let reason): "checkpoint \(path) is corrupt: \(reason)"
        case .rowLockedByPrepared(let key, let holder): "row \(key) is locked by prepared transaction \(holder)"
        case .commitTimestampBelowTransaction(let xid, let commitTimestamp):
            "commit timestamp \(commitTimestamp) is below the id of transaction \(xid)"
        case .commitTimestampInUse(let xid, let commitTimestamp):
            "commit timestamp \(commitTimestamp) for transaction \(xid) is already another transaction's"
        }
    }
}
