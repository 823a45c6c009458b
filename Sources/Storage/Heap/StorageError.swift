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
        }
    }
}
