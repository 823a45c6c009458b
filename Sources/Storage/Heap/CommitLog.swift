/// The commit log (PostgreSQL's `clog`): transaction id -> status.
///
/// Ids are sparse (L2 timestamps are `physical_ms << 18 | logical`), so the log is a dictionary
/// rather than PostgreSQL's dense two-bit array. It is persisted by the WAL (commit, abort and
/// prepare records) and by checkpoints; vacuum drops entries no version references any more.
struct CommitLog: Sendable {
    private(set) var entries: [TransactionID: TransactionStatus] = [:]

    /// The status of `xid`; ids the log never heard of are in progress (never visible).
    func status(of xid: TransactionID) -> TransactionStatus {
        entries[xid] ?? .inProgress
    }

    func isCommitted(_ xid: TransactionID) -> Bool {
        entries[xid] == .committed
    }

    mutating func set(_ xid: TransactionID, _ status: TransactionStatus) {
        entries[xid] = status
    }

    mutating func remove(_ xid: TransactionID) {
        entries[xid] = nil
    }

    var count: Int { entries.count }
}
