/// A replica's view of its log: a compacted prefix (the snapshot), the entries after it, and how far they
/// are durable, committed and applied. Invariants: `applied <= committed <= lastIndex`,
/// `snapshotIndex <= applied` once the snapshot is persisted, and `stableIndex <= lastIndex`.
struct RaftLog {
    /// The latest snapshot: the log holds entries after `snapshot.index`.
    private(set) var snapshot: RaftSnapshot
    /// `entries[k].index == snapshot.index + 1 + k`.
    private(set) var entries: [RaftEntry]
    /// Entries with an index up to here are durable on the replica's disk (reported through `advance`).
    var stableIndex: UInt64
    /// A snapshot received from the leader that is not yet persisted (it replaces the whole log).
    var pendingSnapshot: RaftSnapshot?
    private(set) var committed: UInt64
    var applied: UInt64

    /// The log a replica restarts with: its persisted snapshot and entries.
    init(snapshot: RaftSnapshot, entries: [RaftEntry], committed: UInt64, applied: UInt64) {
        precondition(
            entries.enumerated().allSatisfy { $0.element.index == snapshot.index + 1 + UInt64($0.offset) },
            "persisted entries must follow the snapshot contiguously")
        self.snapshot = snapshot
        self.entries = entries
        self.stableIndex = snapshot.index + UInt64(entries.count)
        self.committed = max(committed, snapshot.index)
        self.applied = max(applied, snapshot.index)
        precondition(self.committed <= stableIndex, "the persisted commit index is beyond the persisted log")
        precondition(self.applied <= self.committed, "applied beyond the commit index")
    }

    var firstIndex: UInt64 { snapshot.index + 1 }
    var lastIndex: UInt64 { snapshot.index + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? snapshot.term }

    /// The term of the entry at `index`, or nil when it is compacted away or beyond the log.
    func term(at index: UInt64) -> UInt64? {
        if index == snapshot.index { return snapshot.term }
        if index < snapshot.index || index > lastIndex { return nil }
        return entries[Int(index - snapshot.index - 1)].term
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool { self.term(at: index) == term }

    /// The entry at `index` (nil when compacted or beyond the log).
    func entry(at index: UInt64) -> RaftEntry? {
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(index - snapshot.index - 1)]
    }

    /// Entries in `from ..< to` (at most `limit`); nil when `from` is compacted away.
    func entries(from: UInt64, to: UInt64, limit: Int = .max) -> [RaftEntry]? {
        if from <= snapshot.index { return nil }
        let end = min(to, lastIndex + 1, from + UInt64(max(limit, 0)))
        if from >= end { return [] }
        return Array(entries[Int(from - snapshot.index - 1)..<Int(end - snapshot.index - 1)])
    }

    /// A candidate whose last entry is (`lastTerm`, `lastIndex`) is at least as up to date as this log
    /// (Raft §5.4.1).
    func isUpToDate(lastTerm candidateTerm: UInt64, lastIndex candidateIndex: UInt64) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// The largest index at or below `index` whose term is at most `term`, with that term (fast
    /// backtracking: every index above it cannot match an entry of term `term` or less). Stops at a
    /// compacted index, returning term 0 for it.
    func findConflictByTerm(index: UInt64, term: UInt64) -> (index: UInt64, term: UInt64) {
        var index = min(index, lastIndex)
        while true {
            guard let ourTerm = self.term(at: index) else { return (index, 0) }
            if ourTerm <= term { return (index, ourTerm) }
            index -= 1
        }
    }

    /// Appends `newEntries` (which follow the entry at `newEntries[0].index - 1`) after dropping any
    /// conflicting suffix: the first entry whose term differs from ours and everything after it. Entries we
    /// already hold are kept (a delayed duplicate append must not truncate newer ones). Returns the index
    /// of the first entry written, if any.
    mutating func append(_ newEntries: [RaftEntry]) -> UInt64? {
        guard let conflict = newEntries.first(where: { !matchTerm($0.index, $0.term) }) else { return nil }
        precondition(conflict.index > committed, "a committed entry \(conflict.index) would be overwritten")
        precondition(conflict.index <= lastIndex + 1, "a gap in the log before \(conflict.index)")
        truncate(after: conflict.index - 1)
        let start = Int(conflict.index - newEntries[0].index)
        entries.append(contentsOf: newEntries[start...])
        return conflict.index
    }

    /// Appends one entry created by this replica as leader.
    mutating func appendLeaderEntry(_ entry: RaftEntry) {
        precondition(entry.index == lastIndex + 1, "a leader appends at the end of its log")
        entries.append(entry)
    }

    private mutating func truncate(after index: UInt64) {
        if index < lastIndex {
            entries.removeLast(Int(lastIndex - index))
            stableIndex = min(stableIndex, index)
        }
    }

    mutating func commit(to index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit index \(index) beyond the last index \(lastIndex)")
        committed = index
    }

    /// Replaces the whole log with a snapshot received from the leader (not yet persisted).
    mutating func restore(_ newSnapshot: RaftSnapshot) {
        precondition(newSnapshot.index > committed, "a snapshot at or below the commit index is never restored")
        snapshot = newSnapshot
        entries = []
        pendingSnapshot = newSnapshot
        stableIndex = newSnapshot.index
        committed = newSnapshot.index
    }

    /// Drops entries up to `index`, which the state machine has applied and captured in `data`.
    mutating func compact(through index: UInt64, data: [UInt8]) {
        precondition(index <= applied, "compaction beyond the applied index")
        guard index > snapshot.index, let term = term(at: index) else { return }
        entries.removeFirst(Int(index - snapshot.index))
        snapshot = RaftSnapshot(index: index, term: term, data: data)
    }

    /// Entries not yet durable: the host writes them (after dropping its entries at or above the first).
    var unstableEntries: [RaftEntry] {
        entries(from: max(stableIndex + 1, firstIndex), to: lastIndex + 1) ?? []
    }

    /// Committed entries not yet applied, in order (at most `limit`).
    func committedEntriesToApply(limit: Int) -> [RaftEntry] {
        let from = max(applied, pendingSnapshot?.index ?? 0, snapshot.index) + 1
        return entries(from: from, to: committed + 1, limit: limit) ?? []
    }
}
