/// A snapshot: which transactions' effects a reader sees (PostgreSQL's `SnapshotData`).
///
/// A transaction is visible to the snapshot iff it committed before the snapshot was taken:
/// its id is below `xmax`, it is not in `inProgress`, and the commit log says committed.
/// Every id below `xmin` had finished when the snapshot was taken.
public struct Snapshot: Sendable, Hashable {
    /// Every transaction with a smaller id had finished when the snapshot was taken.
    public let xmin: TransactionID
    /// No transaction with this id or a larger one is visible.
    public let xmax: TransactionID
    /// Transactions running (or committing, or prepared) when the snapshot was taken.
    public let inProgress: Set<TransactionID>
    /// The transaction that owns the snapshot; its own writes are visible to it.
    public let owner: TransactionID

    /// Creates a snapshot; the engine takes them, tests build them by hand.
    public init(xmin: TransactionID, xmax: TransactionID, inProgress: Set<TransactionID>, owner: TransactionID) {
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
        self.owner = owner
    }

    /// Whether `xid`'s commit happened before this snapshot, given the commit log's status of it
    /// and its pushed-timestamp `aliases` (commit timestamp -> original id, see `CommitLog`).
    ///
    /// A transaction prepared as `x` and committed at `T > x` was in progress for this snapshot
    /// iff `x` is in `inProgress`, so `T` counts as committed before only if neither `T` nor its
    /// original is. The `xid < xmin` shortcut stays correct for `T`: an original in progress here
    /// was running when the snapshot was taken, so `xmin <= x < T`; a `T` below `xmin` had its
    /// original finish (commit) before the snapshot. One dictionary lookup, and only when the
    /// alias map is non-empty and `xid` is at or above `xmin`.
    func committedBefore(
        _ xid: TransactionID, status: TransactionStatus, aliases: [TransactionID: TransactionID] = [:]
    ) -> Bool {
        guard xid != 0, xid < xmax, status == .committed else { return false }
        if xid < xmin { return true }
        if inProgress.contains(xid) { return false }
        guard !aliases.isEmpty, let original = aliases[xid] else { return true }
        return !inProgress.contains(original)
    }

    /// The visibility rule: a version is visible iff its creator is the owner or committed before
    /// the snapshot, and its replacer (if any) is neither the owner nor committed before it.
    func isVisible(
        xmin versionXmin: TransactionID, xminStatus: TransactionStatus,
        xmax versionXmax: TransactionID, xmaxStatus: TransactionStatus,
        aliases: [TransactionID: TransactionID] = [:]
    ) -> Bool {
        let created = versionXmin == owner || committedBefore(versionXmin, status: xminStatus, aliases: aliases)
        guard created else { return false }
        if versionXmax == 0 { return true }
        if versionXmax == owner { return false }
        return !committedBefore(versionXmax, status: xmaxStatus, aliases: aliases)
    }

    /// A frozen version's creator committed below every snapshot's horizon: it is created for
    /// every snapshot, without consulting the commit log (which may have forgotten it).
    func isVisible(_ version: TupleVersion, in commitLog: CommitLog) -> Bool {
        if version.frozen {
            if version.xmax == 0 { return true }
            if version.xmax == owner { return false }
            return !committedBefore(
                version.xmax, status: commitLog.status(of: version.xmax), aliases: commitLog.aliases)
        }
        return isVisible(
            xmin: version.xmin, xminStatus: commitLog.status(of: version.xmin),
            xmax: version.xmax, xmaxStatus: version.xmax == 0 ? .inProgress : commitLog.status(of: version.xmax),
            aliases: commitLog.aliases)
    }
}
