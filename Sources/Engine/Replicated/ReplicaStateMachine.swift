import Distributed
import Storage
import Synchronization

/// A replica's storage as the state machine of its region's Raft group.
///
/// Entries are applied in log order. A transaction this replica executed as leader is already in
/// its storage (versions written, rows locked): its entry only commits it (`commitReplicated`).
/// Any other entry (a follower's, or a previous leader's after an election) is installed with
/// `applyReplicated`, under the leader's transaction id.
///
/// Under async replication a leader commits its transaction in storage as soon as its own log has
/// it (`commitAhead`), before a quorum does; such a commit is speculative until its entry applies.
/// If another leader's entry takes its index, the acknowledged transaction is lost and this
/// replica's storage has diverged from the log: it is counted (`lostAhead`) and the replica must be
/// rebuilt from its snapshot and log (`diverged`), as a deposed PostgreSQL primary is rewound.
final class ReplicaStateMachine: RaftStateMachine {
    let storage: StorageEngine

    private enum Local: Equatable {
        /// Proposed; its entry has not applied yet.
        case proposed
        /// Committed in storage ahead of the log (async) at this index.
        case committedAhead(index: UInt64)
    }

    /// A transaction prepared here (a participant of two-phase commit across regions).
    struct Prepared: Sendable, Hashable {
        var global: GlobalTransaction
        /// When its prepare entry applied here (the clock's nanoseconds): an in-doubt check waits
        /// a while before asking its coordinator.
        var since: UInt64
    }

    private struct State {
        var local: [TransactionID: Local] = [:]
        var prepared: [TransactionID: Prepared] = [:]
        /// Transaction records of the global transactions this region coordinated (first decision
        /// applied wins).
        var records: [UInt64: TransactionRecord] = [:]
        var phaseTwoUnknown: UInt64 = 0
        var oracleLimitMillis: UInt64 = 0
        var appliedIndex: UInt64 = 0
        var appliedTerm: UInt64 = 0
        var diverged = false
        var lostAhead: UInt64 = 0
        var deposedAborts: UInt64 = 0
        var undecodable: UInt64 = 0
        var applyFailures: UInt64 = 0
    }

    private let state = Mutex(State())
    private let clock: any EngineClock
    /// Told when a prepared transaction's commit or abort entry applied here (the leader's runtime
    /// then releases its locks).
    private let finished = Mutex<FinishedBox?>(nil)
    private let installed = Mutex<InstalledBox?>(nil)

    /// The prepared-installed callback in a box (see `FinishedBox`).
    private final class InstalledBox: Sendable {
        let body: @Sendable (TransactionID, [AccountID]) -> Void
        init(_ body: @escaping @Sendable (TransactionID, [AccountID]) -> Void) { self.body = body }
    }

    /// Sets who is told when another leader's prepared transaction is installed here (from an
    /// entry or a snapshot): the runtime registers its locks, so this replica's transactions queue
    /// behind it if it leads later.
    func onPreparedInstalled(_ body: @escaping @Sendable (TransactionID, [AccountID]) -> Void) {
        let box = InstalledBox(body)
        installed.withLock { $0 = box }
    }

    /// The callback in a box (a closure stored straight in a `Mutex` is re-abstracted on every
    /// `withLock`, growing a chain of thunks).
    private final class FinishedBox: Sendable {
        let body: @Sendable (TransactionID, Bool) -> Void
        init(_ body: @escaping @Sendable (TransactionID, Bool) -> Void) { self.body = body }
    }

    init(storage: StorageEngine, clock: any EngineClock = SystemClock.shared) {
        self.storage = storage
        self.clock = clock
    }

    /// Sets who is told when a prepared transaction finishes here.
    func onPreparedFinished(_ body: @escaping @Sendable (TransactionID, Bool) -> Void) {
        let box = FinishedBox(body)
        finished.withLock { $0 = box }
    }

    /// The transactions prepared here, awaiting their phase two (or an in-doubt resolution).
    var prepared: [TransactionID: Prepared] { state.withLock { $0.prepared } }

    /// The decision recorded for global transaction `id`, if any.
    func record(of id: UInt64) -> TransactionRecord? { state.withLock { $0.records[id] } }

    /// The timestamp oracle's persisted bound (home region).
    var oracleLimitMillis: UInt64 { state.withLock { $0.oracleLimitMillis } }

    /// How many transaction records this replica holds.
    var recordCount: Int { state.withLock { $0.records.count } }

    /// Commit or abort entries for a transaction not prepared here (a repeated phase two).
    var phaseTwoUnknown: UInt64 { state.withLock { $0.phaseTwoUnknown } }

    /// Async replication: the leader's log has prepared `xid`'s entry at `index`; prepare it in
    /// storage now, unless its entry already applied.
    func prepareAhead(_ xid: TransactionID, global: GlobalTransaction, index: UInt64) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            guard s.local[xid] == .proposed else { return }
            try storage.prepareReplicated(xid)
            s.local[xid] = .committedAhead(index: index)
            s.prepared[xid] = Prepared(global: global, since: clock.nowNanos())
        }
    }

    /// The index and term of the last entry applied (a leader serves once it applied an entry of
    /// its own term: everything committed before is then in its storage).
    var applied: (index: UInt64, term: UInt64) { state.withLock { ($0.appliedIndex, $0.appliedTerm) } }

    /// Whether storage holds a speculative commit another leader's entry replaced.
    var diverged: Bool { state.withLock { $0.diverged } }

    /// Counters: acknowledged commits lost to another leader's entries, transactions of a deposed
    /// leader aborted by applied entries, entries that did not decode or apply (defects).
    var counters: (lostAhead: UInt64, deposedAborts: UInt64, undecodable: UInt64, applyFailures: UInt64) {
        state.withLock { ($0.lostAhead, $0.deposedAborts, $0.undecodable, $0.applyFailures) }
    }

    /// Registers a transaction this replica is about to propose.
    func willPropose(_ xid: TransactionID) {
        state.withLock { $0.local[xid] = .proposed }
    }

    /// The proposal failed: its entry will not apply here as this replica's (it may still commit
    /// through another leader, and then applies as that leader's).
    func proposalFailed(_ xid: TransactionID) {
        _ = state.withLock { $0.local.removeValue(forKey: xid) }
    }

    /// Async replication: the leader's log has `xid`'s entry at `index`; commit it in storage now,
    /// unless its entry already applied (which committed it).
    func commitAhead(_ xid: TransactionID, index: UInt64) throws(StorageError) {
        try state.withLock { s throws(StorageError) in
            guard s.local[xid] == .proposed else { return }
            try storage.commitReplicated(xid)
            s.local[xid] = .committedAhead(index: index)
        }
    }

    func apply(_ entry: RaftEntry) {
        var finishedPrepared: [(TransactionID, Bool)] = []
        var installedPrepared: [(TransactionID, [AccountID])] = []
        defer {
            if !installedPrepared.isEmpty, let installed = installed.withLock({ $0 }) {
                for (xid, keys) in installedPrepared { installed.body(xid, keys) }
            }
            if !finishedPrepared.isEmpty, let finished = finished.withLock({ $0 }) {
                for (xid, committed) in finishedPrepared { finished.body(xid, committed) }
            }
        }
        state.withLock { s in
            s.appliedIndex = entry.index
            s.appliedTerm = entry.term
            defer { checkLostAhead(through: entry.index, &s) }
            guard !entry.data.isEmpty else { return }
            guard let command = ReplicaCommand.decode(entry.data) else {
                s.undecodable += 1
                return
            }
            apply(command, &s, finished: &finishedPrepared, installed: &installedPrepared)
        }
    }

    /// Applies one command (each member of a batch in turn); a failure is counted, and the rest of
    /// a batch still applies.
    private func apply(
        _ command: ReplicaCommand, _ s: inout State, finished: inout [(TransactionID, Bool)],
        installed: inout [(TransactionID, [AccountID])]
    ) {
        do throws(StorageError) {
            switch command {
            case .commit(let xid, let writes):
                switch s.local.removeValue(forKey: xid) {
                case .proposed: try storage.commitReplicated(xid)
                case .committedAhead: break
                case nil: s.deposedAborts += UInt64(try storage.applyReplicated(xid: xid, writes: writes))
                }
            case .load(let xid, let keys, let row):
                try storage.applyReplicatedLoad(xid: xid, keys: keys, row: row)
            case .prepare(let xid, let global, let writes):
                switch s.local.removeValue(forKey: xid) {
                case .proposed: try storage.prepareReplicated(xid)
                case .committedAhead: break
                case nil:
                    s.deposedAborts += UInt64(try storage.applyReplicatedPrepare(xid: xid, writes: writes))
                    installed.append((xid, writes.map(\.key)))
                }
                if s.prepared[xid] == nil { s.prepared[xid] = Prepared(global: global, since: clock.nowNanos()) }
            case .commitPrepared(let xid, let commitTimestamp):
                guard s.prepared.removeValue(forKey: xid) != nil else {
                    s.phaseTwoUnknown += 1
                    return
                }
                try storage.commitReplicatedPrepared(xid, at: commitTimestamp)
                finished.append((xid, true))
            case .abortPrepared(let xid):
                guard s.prepared.removeValue(forKey: xid) != nil else {
                    s.phaseTwoUnknown += 1
                    return
                }
                try storage.abortReplicatedPrepared(xid)
                finished.append((xid, false))
            case .decide(let id, let record):
                if s.records[id] == nil { s.records[id] = record }
            case .oracleLimit(let millis):
                s.oracleLimitMillis = max(s.oracleLimitMillis, millis)
            case .batch(let commands):
                for member in commands { apply(member, &s, finished: &finished, installed: &installed) }
            }
        } catch {
            s.applyFailures += 1
        }
    }

    /// A speculative commit whose index is now applied without its entry was lost.
    private func checkLostAhead(through index: UInt64, _ s: inout State) {
        for (xid, local) in s.local {
            guard case .committedAhead(let at) = local, at <= index else { continue }
            s.local[xid] = nil
            s.lostAhead += 1
            s.diverged = true
        }
    }

    func restore(_ snapshot: RaftSnapshot) {
        var installedPrepared: [(TransactionID, [AccountID])] = []
        defer {
            if !installedPrepared.isEmpty, let installed = installed.withLock({ $0 }) {
                for (xid, keys) in installedPrepared { installed.body(xid, keys) }
            }
        }
        state.withLock { s in
            guard let decoded = ReplicaSnapshot.decode(snapshot.data) else {
                s.undecodable += 1
                return
            }
            do {
                s.deposedAborts += UInt64(
                    try storage.restoreReplicated(
                        rows: decoded.rows, highestXid: decoded.highestXid,
                        prepared: decoded.prepared.map { ($0.xid, $0.writes) }))
            } catch {
                s.applyFailures += 1
            }
            let now = clock.nowNanos()
            s.prepared = [:]
            for entry in decoded.prepared {
                s.prepared[entry.xid] = Prepared(global: entry.global, since: now)
                installedPrepared.append((entry.xid, entry.writes.map(\.key)))
            }
            s.records = decoded.records
            s.oracleLimitMillis = max(s.oracleLimitMillis, decoded.oracleLimitMillis)
            if s.local.values.contains(where: { if case .committedAhead = $0 { true } else { false } }) {
                s.diverged = true
            }
            s.local = [:]
            s.appliedIndex = snapshot.index
            s.appliedTerm = snapshot.term
        }
    }

    func snapshotData() -> [UInt8] {
        state.withLock { s in
            var ahead = Set<TransactionID>()
            for (xid, local) in s.local where local != .proposed { ahead.insert(xid) }
            var prepared: [ReplicaSnapshot.PreparedEntry] = []
            for entry in storage.preparedWriteSets() where !ahead.contains(entry.xid) {
                guard let info = s.prepared[entry.xid] else { continue }
                prepared.append(
                    ReplicaSnapshot.PreparedEntry(xid: entry.xid, global: info.global, writes: entry.writes))
            }
            return ReplicaSnapshot.encode(
                rows: storage.committedRows(excluding: ahead), highestXid: storage.highestTransactionID,
                prepared: prepared, records: s.records, oracleLimitMillis: s.oracleLimitMillis)
        }
    }
}
