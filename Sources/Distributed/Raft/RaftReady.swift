/// Everything a replica's core asks its host to do, in this order:
/// 1. persist `snapshot` (replacing the whole log), then `entries` (after dropping every persisted entry at
///    or above `entries[0].index`), then `hardState`; fsync when `mustSync`;
/// 2. send `messages` (only now: a vote or an acknowledgement promises that the state is durable; a
///    leader's appends may go out in parallel with step 1, see `RaftMessage.maySendBeforePersisting`);
/// 3. restore the state machine from `snapshot`, then apply `committedEntries` in order;
/// 4. call `Raft.advance(_:)` with this value.
package struct RaftReady: Sendable, Equatable {
    /// The leader and role, when they changed since the previous `RaftReady`.
    package var softState: RaftSoftState?
    /// Term, vote and commit, when they changed since the last persisted hard state.
    package var hardState: RaftHardState?
    /// Entries to append to the durable log.
    package var entries: [RaftEntry] = []
    /// A snapshot from the leader that replaces the log and the state machine.
    package var snapshot: RaftSnapshot?
    /// Committed entries to apply to the state machine, in log order.
    package var committedEntries: [RaftEntry] = []
    /// Messages to send once the state above is durable.
    package var messages: [RaftMessage] = []

    /// The write must reach the disk (fsync) before the messages go out: new entries, a new term or vote,
    /// or a snapshot. A commit index alone may be written lazily: after a crash it may read lower than it
    /// was, which is safe (committed entries are durable on a quorum and the leader re-sends the index).
    package var mustSync: Bool

    /// Nothing to do.
    package var isEmpty: Bool {
        softState == nil && hardState == nil && entries.isEmpty && snapshot == nil && committedEntries.isEmpty
            && messages.isEmpty
    }
}

/// What a replica keeps on disk and restarts from: the hard state, the latest snapshot and the entries
/// after it. The node loop keeps this in its files; tests and the simulation keep it in memory.
package struct RaftPersistentState: Sendable, Equatable {
    package var hardState: RaftHardState
    package var snapshot: RaftSnapshot
    package var entries: [RaftEntry]

    package init(
        hardState: RaftHardState = RaftHardState(), snapshot: RaftSnapshot = RaftSnapshot(index: 0, term: 0),
        entries: [RaftEntry] = []
    ) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }

    /// The last durable index.
    package var lastIndex: UInt64 { snapshot.index + UInt64(entries.count) }

    /// The durable term at `index`, or nil when compacted away or absent.
    package func term(at index: UInt64) -> UInt64? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(index - snapshot.index - 1)].term
    }

    /// Writes the durable part of `ready` (step 1 of its contract).
    package mutating func persist(_ ready: RaftReady) {
        if let snapshot = ready.snapshot {
            self.snapshot = snapshot
            entries = []
        }
        if let first = ready.entries.first {
            precondition(
                first.index > snapshot.index && first.index <= lastIndex + 1, "entries must continue the durable log")
            entries.removeLast(Int(lastIndex + 1 - first.index))
            entries.append(contentsOf: ready.entries)
        }
        if let hardState = ready.hardState { self.hardState = hardState }
    }

    /// Drops durable entries up to `index`, which `snapshot` (taken by the state machine) covers.
    package mutating func compact(to snapshot: RaftSnapshot) {
        guard snapshot.index > self.snapshot.index else { return }
        precondition(term(at: snapshot.index) == snapshot.term, "a snapshot must cover durable entries")
        entries.removeFirst(Int(snapshot.index - self.snapshot.index))
        self.snapshot = snapshot
    }
}
