import Storage

/// An error of the runtime, shaped like PostgreSQL's: a SQLSTATE code plus the context a user
/// needs to act (the transaction, the row, the holder of a lock).
public struct TransactionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// SQLSTATE codes the runtime raises.
    public enum Code: String, Sendable, Hashable, CaseIterable, Codable {
        /// 40001: could not serialize access (first-updater-wins, SSI dangerous structure).
        case serializationFailure = "40001"
        /// 40P01: the lock wait would close a cycle of waiting transactions.
        case deadlockDetected = "40P01"
        /// 55P03: the lock was not granted within `lock_timeout`, or NOWAIT found it held.
        case lockNotAvailable = "55P03"
        /// 23505: an insert found the row already present.
        case uniqueViolation = "23505"
        /// 57P01: the engine shut down or the node was lost under the transaction.
        case adminShutdown = "57P01"
        /// 53300: no session became free within the pool's acquire timeout.
        case tooManyConnections = "53300"
        /// 57014: the caller cancelled the wait.
        case queryCanceled = "57014"
        /// 25P02: a statement failed earlier in this transaction; it can only be rolled back.
        case inFailedTransaction = "25P02"
        /// 25000: the transaction is no longer active (committed, aborted or prepared), so it
        /// runs no statement and takes no lock.
        case invalidTransactionState = "25000"
        /// 22023: a request no bank would execute (a transfer to the same account, to an
        /// unknown account, or of a non-positive amount), refused before any write.
        case invalidParameterValue = "22023"
        /// 58030: an I/O error in storage.
        case ioError = "58030"
        /// XX000: an internal error (an invariant broke; report it).
        case internalError = "XX000"

        /// Whether the retry policy re-runs a transaction that failed with this code.
        public var isRetryable: Bool { self == .serializationFailure || self == .deadlockDetected }
    }

    /// The SQLSTATE code.
    public var code: Code
    /// A message naming what happened.
    public var message: String
    /// The transaction that failed, when known.
    public var xid: TransactionID?
    /// The row involved, when one is.
    public var key: AccountID?

    /// Creates an error.
    public init(_ code: Code, _ message: String, xid: TransactionID? = nil, key: AccountID? = nil) {
        self.code = code
        self.message = message
        self.xid = xid
        self.key = key
    }

    /// The SQLSTATE string (e.g. "40001").
    public var sqlState: String { code.rawValue }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let xid { text += " (transaction \(xid)" + (key.map { ", row \($0)" } ?? "") + ")" }
        return text
    }

    /// Maps a storage error to the SQLSTATE a client would see.
    init(_ error: StorageError, xid: TransactionID?) {
        switch error {
        case .rowLocked(let key, let holder):
            self.init(.lockNotAvailable, "row \(key) is locked by transaction \(holder)", xid: xid, key: key)
        case .concurrentUpdate(let key, let by):
            self.init(
                .serializationFailure,
                "could not serialize access due to concurrent update (row \(key), by transaction \(by))",
                xid: xid, key: key)
        case .duplicateKey(let key):
            self.init(.uniqueViolation, "duplicate key value: row \(key) already exists", xid: xid, key: key)
        case .closed: self.init(.adminShutdown, "terminating connection: the storage engine is closed", xid: xid)
        case .io, .corruptCheckpoint: self.init(.ioError, error.description, xid: xid)
        case .transactionIDNotIncreasing:
            self.init(.serializationFailure, error.description, xid: xid)
        case .notActive: self.init(.inFailedTransaction, error.description, xid: xid)
        case .payloadTooLarge(let key, _): self.init(.internalError, error.description, xid: xid, key: key)
        // Replicated two-phase commit (L2's coordinator and replicas, not an L1 session): a log
        // that contradicts the locks, or a decision with an unusable timestamp, is a bug above L0.
        case .rowLockedByPrepared(let key, _): self.init(.internalError, error.description, xid: xid, key: key)
        case .commitTimestampBelowTransaction, .commitTimestampInUse:
            self.init(.internalError, error.description, xid: xid)
        }
    }
}
