import Storage

/// The Raft consensus core of one replica, as a deterministic state machine in the style of etcd-io/raft:
/// its inputs are messages (`step`), clock ticks (`tick`), proposals (`propose`) and commands (`campaign`,
/// `transferLeadership`, `compact`); its output is a `RaftReady` the host carries out before calling
/// `advance`. It reads no clock, starts no thread and does no I/O, so tests drive it step by step.
///
/// Contract: between `ready()` and `advance(_:)` nothing else is called (`precondition`), so everything a
/// `RaftReady` reports is persisted before the core acts on it. In particular the leader's own entries
/// count toward the commit quorum only after `advance` reports them durable.
package struct Raft {
    package let config: RaftConfig
    package var id: RaftNodeID { config.id }

    package internal(set) var term: UInt64
    package internal(set) var vote: RaftNodeID
    package internal(set) var role: RaftRole = .follower
    /// The current leader as far as this replica knows (0 when unknown): where to redirect clients.
    package internal(set) var leader: RaftNodeID = 0
    var log: RaftLog

    /// Per-voter replication progress (meaningful on a leader).
    var progress: [RaftNodeID: Progress] = [:]
    /// Votes received in the current (pre-)election: voter → granted.
    var votes: [RaftNodeID: Bool] = [:]
    /// The voter a leadership transfer hands over to (0 when none).
    package internal(set) var leadTransferee: RaftNodeID = 0

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout: Int
    var random: SplitMix64

    var messages: [RaftMessage] = []
    private var persistedHardState: RaftHardState
    private var reportedSoftState: RaftSoftState
    var awaitingAdvance = false

    /// Counters for the node loop's statistics.
    package internal(set) var counters = RaftCounters()
    /// Recorded log lines (only when `config.recordLog`); drained by `takeLogLines()`. A reference, so a
    /// line can be recorded from inside a mutating method without an overlapping access to `self`.
    private let recorder: RaftLogRecorder?

    /// A replica starting (or restarting) from its persisted state. `applied` is the last index its state
    /// machine holds (at least the snapshot's, at most the persisted commit index).
    package init(config: RaftConfig, persisted: RaftPersistentState = RaftPersistentState(), applied: UInt64 = 0) {
        precondition(config.id != 0, "replica id 0 means none")
        precondition(config.voters.contains(config.id), "a replica is one of the group's voters")
        precondition(config.heartbeatTicks > 0 && config.heartbeatTicks < config.electionTicks, "heartbeat < election")
        self.config = config
        recorder = config.recordLog ? RaftLogRecorder() : nil
        term = persisted.hardState.term
        vote = persisted.hardState.vote
        log = RaftLog(
            snapshot: persisted.snapshot, entries: persisted.entries, committed: persisted.hardState.commit,
            applied: applied)
        persistedHardState = persisted.hardState
        random = SplitMix64(seed: config.seed ^ (config.id &* 0x9E37_79B9_7F4A_7C15))
        randomizedElectionTimeout = config.electionTicks
        reportedSoftState = RaftSoftState(leader: 0, role: .follower)
        becomeFollower(term: term, leader: 0)
        logInfo(
            "\(id) started [peers: \(config.voters.map(String.init).joined(separator: ",")), term: \(term), "
                + "commit: \(log.committed), applied: \(log.applied), lastindex: \(log.lastIndex), "
                + "lastterm: \(log.lastTerm)]")
    }

    // MARK: - Observations

    package var commitIndex: UInt64 { log.committed }
    package var appliedIndex: UInt64 { log.applied }
    package var lastIndex: UInt64 { log.lastIndex }
    package var lastTerm: UInt64 { log.lastTerm }
    /// The first index still in the log (entries before it are compacted into the snapshot).
    package var firstIndex: UInt64 { log.firstIndex }
    package var snapshot: RaftSnapshot { log.snapshot }
    package var softState: RaftSoftState { RaftSoftState(leader: leader, role: role) }
    package var hardState: RaftHardState { RaftHardState(term: term, vote: vote, commit: log.committed) }
    /// The term of the entry at `index` (nil when compacted or absent).
    package func term(at index: UInt64) -> UInt64? { log.term(at: index) }
    /// The entry at `index` (nil when compacted or absent).
    package func entry(at index: UInt64) -> RaftEntry? { log.entry(at: index) }

    /// A leader's view of a follower: the index known to match, the next to send, the flow state.
    package func progressDescription(of node: RaftNodeID) -> String? {
        guard role == .leader, let pr = progress[node] else { return nil }
        return "match=\(pr.match) next=\(pr.next) \(pr.state.rawValue)"
    }

    /// Drains the recorded log lines (empty unless `config.recordLog`).
    package func takeLogLines() -> [String] {
        guard let recorder else { return [] }
        defer { recorder.lines = [] }
        return recorder.lines
    }

    // MARK: - Inputs

    /// One tick of the replica's logical clock: followers count toward an election, leaders toward a
    /// heartbeat and a quorum check.
    package mutating func tick() {
        precondition(!awaitingAdvance, "tick between ready() and advance()")
        if role == .leader { tickHeartbeat() } else { tickElection() }
    }

    /// Starts an election now (as if the election timer fired), with a pre-vote when configured.
    package mutating func campaign() {
        precondition(!awaitingAdvance, "campaign between ready() and advance()")
        hup(transfer: false)
    }

    /// Appends `data` as a new entry if this replica leads; returns its index (the entry is committed once
    /// it appears in `committedEntries`, provided it still has this term).
    @discardableResult
    package mutating func propose(_ data: [UInt8]) throws(RaftError) -> UInt64 {
        precondition(!awaitingAdvance, "propose between ready() and advance()")
        guard role == .leader else { throw .notLeader(leader: leader == 0 ? nil : leader) }
        guard leadTransferee == 0 else { throw .transferInProgress }
        guard log.lastIndex - log.committed < UInt64(config.maxUncommittedEntries) else {
            throw .tooManyUncommittedEntries
        }
        let entry = RaftEntry(term: term, index: log.lastIndex + 1, data: data)
        log.appendLeaderEntry(entry)
        counters.entriesProposed += 1
        broadcastAppend()
        return entry.index
    }

    /// Hands leadership to `target` (thesis §3.10): once its log is up to date it gets `timeoutNow` and
    /// campaigns at once; proposals are refused meanwhile; the attempt is abandoned after an election
    /// timeout.
    package mutating func transferLeadership(to target: RaftNodeID) throws(RaftError) {
        precondition(!awaitingAdvance, "transferLeadership between ready() and advance()")
        guard role == .leader else { throw .notLeader(leader: leader == 0 ? nil : leader) }
        guard config.voters.contains(target) else { throw .unknownNode(target) }
        if target == id || target == leadTransferee { return }
        logInfo("\(id) [term \(term)] starts to transfer leadership to \(target)")
        leadTransferee = target
        electionElapsed = 0
        if progress[target]?.match == log.lastIndex {
            sendTimeoutNow(to: target)
        } else {
            sendAppend(to: target, sendIfEmpty: true)
        }
    }

    /// Compacts the log through `index` (at most the applied index) into a snapshot holding the state
    /// machine's `data`, and returns it: the host replaces its durable prefix with it
    /// (`RaftPersistentState.compact(to:)`). Followers too far behind then receive it.
    @discardableResult
    package mutating func compact(through index: UInt64, data: [UInt8]) -> RaftSnapshot {
        precondition(!awaitingAdvance, "compact between ready() and advance()")
        log.compact(through: index, data: data)
        return log.snapshot
    }

    // MARK: - Ready and advance

    /// There is something for the host to do.
    package var hasReady: Bool {
        if !messages.isEmpty || log.pendingSnapshot != nil || log.lastIndex > log.stableIndex { return true }
        if hardState != persistedHardState || softState != reportedSoftState { return true }
        return log.committed > max(log.applied, log.pendingSnapshot?.index ?? 0, log.snapshot.index)
    }

    /// The work to do now (see `RaftReady`); call `advance(_:)` with it once done.
    package mutating func ready() -> RaftReady {
        precondition(!awaitingAdvance, "ready() twice without advance()")
        awaitingAdvance = true
        let hard = hardState
        let soft = softState
        let entries = log.unstableEntries
        let changedTermOrVote = hard.term != persistedHardState.term || hard.vote != persistedHardState.vote
        let ready = RaftReady(
            softState: soft != reportedSoftState ? soft : nil,
            hardState: hard != persistedHardState ? hard : nil,
            entries: entries,
            snapshot: log.pendingSnapshot,
            committedEntries: log.committedEntriesToApply(limit: config.maxEntriesPerMessage * 4),
            messages: messages,
            mustSync: !entries.isEmpty || changedTermOrVote || log.pendingSnapshot != nil)
        if ready.softState != nil { reportedSoftState = soft }
        messages = []
        counters.messagesSent += UInt64(ready.messages.count)
        return ready
    }

    /// Reports that `ready` was carried out: its state is durable, its messages sent, its entries applied.
    package mutating func advance(_ ready: RaftReady) {
        precondition(awaitingAdvance, "advance() without ready()")
        awaitingAdvance = false
        if let snapshot = ready.snapshot, log.pendingSnapshot == snapshot {
            log.pendingSnapshot = nil
            log.applied = max(log.applied, snapshot.index)
        }
        if let last = ready.entries.last, log.matchTerm(last.index, last.term) {
            log.stableIndex = max(log.stableIndex, last.index)
        }
        if let hard = ready.hardState { persistedHardState = hard }
        if let last = ready.committedEntries.last {
            log.applied = max(log.applied, last.index)
        }
        if role == .leader, progress[id]?.maybeUpdate(log.stableIndex) == true, maybeCommit() {
            broadcastAppend()
        }
    }

    // MARK: - Logging

    func logInfo(_ line: @autoclosure () -> String) {
        recorder?.lines.append("INFO " + line())
    }
}

/// Event counts of one replica's core.
package struct RaftCounters: Sendable, Equatable {
    /// Elections (not pre-elections) this replica started.
    package var electionsStarted: UInt64 = 0
    /// Times this replica became leader.
    package var becameLeader: UInt64 = 0
    package var messagesSent: UInt64 = 0
    package var entriesProposed: UInt64 = 0
    package var snapshotsSent: UInt64 = 0
}

/// The log lines a core records for scripted tests.
final class RaftLogRecorder {
    var lines: [String] = []
}
