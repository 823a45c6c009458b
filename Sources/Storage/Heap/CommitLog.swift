/// The commit log (PostgreSQL's `clog`): transaction id -> status.
///
/// Ids are sparse (L2 timestamps are `physical_ms << 18 | logical`), so the log is a dictionary
/// rather than PostgreSQL's dense two-bit array. It is persisted by the WAL (commit, abort and
/// prepare records) and by checkpoints. Vacuum freezes the versions of transactions below its
/// horizon and then truncates the log below it (PostgreSQL's `relfrozenxid` and clog
/// truncation), so the log holds only recent transactions.
struct CommitLog: Sendable {
    private(set) var entries: [TransactionID: TransactionStatus] = [:]
    /// Pushed commit timestamps: commit timestamp -> the transaction's original id. A transaction
    /// prepared under id `xid` and committed at `T > xid` has its versions stamped `T`; a snapshot
    /// taken while it was prepared lists `xid` (not `T`) in progress, and must still not see it,
    /// so visibility checks `T`'s original too (`Snapshot.committedBefore`). Empty unless pushes
    /// happened; vacuum drops an alias once its original is below the horizon (no running
    /// transaction's snapshot can list it in progress any more). Not persisted: a restart or a
    /// restore leaves no snapshot taken before it.
    private(set) var aliases: [TransactionID: TransactionID] = [:]

    /// The status of `xid`; ids the log never heard of (or forgot after truncation, when no
    /// unfrozen version names them) are in progress (never visible).
    func status(of xid: TransactionID) -> TransactionStatus {
        entries[xid] ?? .inProgress
    }

    func isCommitted(_ xid: TransactionID) -> Bool {
        entries[xid] == .committed
    }

    /// The status of a version's creator: committed if the version is frozen, else the log's.
    @inline(__always)
    func creatorStatus(_ version: TupleVersion) -> TransactionStatus {
        version.frozen ? .committed : status(of: version.xmin)
    }

    /// Whether a version's creator committed (frozen, or committed per the log).
    @inline(__always)
    func creatorCommitted(_ version: TupleVersion) -> Bool {
        version.frozen || entries[version.xmin] == .committed
    }

    mutating func set(_ xid: TransactionID, _ status: TransactionStatus) {
        entries[xid] = status
    }

    mutating func remove(_ xid: TransactionID) {
        entries[xid] = nil
    }

    mutating func setAlias(_ commitTimestamp: TransactionID, original xid: TransactionID) {
        aliases[commitTimestamp] = xid
    }

    /// Drops the aliases whose original id is below `horizon`; returns how many.
    mutating func pruneAliases(below horizon: TransactionID) -> Int {
        guard !aliases.isEmpty else { return 0 }
        let before = aliases.count
        aliases = aliases.filter { $0.value >= horizon }
        return before - aliases.count
    }

    var count: Int { entries.count }

    /// Room for entries the log's storage has (a dictionary keeps its capacity as entries go).
    var capacity: Int { entries.capacity }

    /// The capacity a truncated log keeps at least (a pass between two vacuums adds far more).
    static let retainedCapacity = 1_024

    /// Gives back the storage a truncation emptied: once vacuum has removed most entries, the
    /// dictionary still had room for the most it ever held (263 K entries, about 5 MB, at the
    /// default vacuum threshold) and a run's memory grew by that once, after its first pass. When
    /// more than three quarters of the room is unused, the entries move to storage sized for
    /// them (at least ``retainedCapacity``). It grows again by doubling until the next truncation.
    /// Returns whether it moved.
    @discardableResult
    mutating func releaseSpareCapacity() -> Bool {
        let wanted = Swift.max(entries.count, Self.retainedCapacity)
        guard entries.capacity > 4 * wanted else { return false }
        var compact = [TransactionID: TransactionStatus](minimumCapacity: wanted)
        for (xid, status) in entries { compact[xid] = status }
        entries = compact
        return true
    }
}
