@testable import Distributed

/// Test helpers: a group of cores wired by an in-memory queue, each with an in-memory disk and an applied
/// log, driven explicitly (no clock, no threads).
struct RaftTestNetwork {
    var nodes: [Raft]
    var disks: [RaftPersistentState]
    var applied: [[RaftEntry]]
    var queue: [RaftMessage] = []
    /// Replicas whose messages (both directions) are dropped.
    var isolated: Set<RaftNodeID> = []
    /// Message types dropped on delivery.
    var droppedTypes: Set<RaftMessageType> = []

    /// `size` replicas with ids 1...size; `configure` adjusts each config; `logs[i]` (optional) is replica
    /// i+1's initial durable log, `terms[i]` its initial term.
    init(
        size: Int, logs: [[UInt64]] = [], terms: [UInt64] = [], configure: (inout RaftConfig) -> Void = { _ in }
    ) {
        let voters = (1...size).map { RaftNodeID($0) }
        disks = voters.indices.map { i in
            let entryTerms = i < logs.count ? logs[i] : []
            let entries = entryTerms.enumerated().map { RaftEntry(term: $0.element, index: UInt64($0.offset + 1)) }
            let term = i < terms.count ? terms[i] : (entryTerms.last ?? 0)
            return RaftPersistentState(hardState: RaftHardState(term: term), entries: entries)
        }
        nodes = voters.indices.map { [disks] i in
            var config = RaftConfig(id: voters[i], voters: voters)
            config.randomizeElectionTimeout = false
            configure(&config)
            return Raft(config: config, persisted: disks[i])
        }
        applied = Array(repeating: [], count: size)
    }

    subscript(id: RaftNodeID) -> Raft {
        get { nodes[Int(id - 1)] }
        set { nodes[Int(id - 1)] = newValue }
    }

    /// Carries out one replica's `RaftReady` (persist, queue messages, apply, advance); returns it.
    @discardableResult
    mutating func processReady(_ id: RaftNodeID) -> RaftReady {
        let i = Int(id - 1)
        let ready = nodes[i].ready()
        disks[i].persist(ready)
        if !isolated.contains(id) { queue.append(contentsOf: ready.messages) }
        applied[i].append(contentsOf: ready.committedEntries)
        nodes[i].advance(ready)
        return ready
    }

    /// Delivers every queued message (and what they cause) until nothing is left to do.
    mutating func stabilize(limit: Int = 10_000) {
        var rounds = 0
        while rounds < limit {
            rounds += 1
            var progressed = false
            for id in nodes.map(\.id) where self[id].hasReady {
                processReady(id)
                progressed = true
            }
            let messages = queue
            queue = []
            for message in messages where !isolated.contains(message.to) && !droppedTypes.contains(message.type) {
                self[message.to].step(message)
                progressed = true
            }
            if !progressed { return }
        }
    }

    mutating func tick(_ id: RaftNodeID, times: Int = 1) {
        for _ in 0..<times { self[id].tick() }
    }

    /// Makes `id` leader: it campaigns and the group stabilizes.
    mutating func elect(_ id: RaftNodeID) {
        self[id].campaign()
        stabilize()
    }

    /// The terms of a replica's log after its snapshot.
    func logTerms(_ id: RaftNodeID) -> [UInt64] {
        let raft = self[id]
        guard raft.lastIndex >= raft.firstIndex else { return [] }
        return (raft.firstIndex...raft.lastIndex).map { raft.term(at: $0)! }
    }
}

/// A single core's `RaftReady`, carried out with no disk: returns it.
@discardableResult
func drain(_ raft: inout Raft) -> RaftReady {
    let ready = raft.ready()
    raft.advance(ready)
    return ready
}

func makeRaft(
    id: RaftNodeID = 1, voters: [RaftNodeID] = [1, 2, 3], term: UInt64 = 0, log: [UInt64] = [],
    configure: (inout RaftConfig) -> Void = { _ in }
) -> Raft {
    var config = RaftConfig(id: id, voters: voters)
    config.randomizeElectionTimeout = false
    configure(&config)
    let entries = log.enumerated().map { RaftEntry(term: $0.element, index: UInt64($0.offset + 1)) }
    return Raft(config: config, persisted: RaftPersistentState(hardState: RaftHardState(term: term), entries: entries))
}

func message(
    _ type: RaftMessageType, from: RaftNodeID, to: RaftNodeID, term: UInt64, logTerm: UInt64 = 0, index: UInt64 = 0,
    entries: [RaftEntry] = [], commit: UInt64 = 0, reject: Bool = false
) -> RaftMessage {
    var m = RaftMessage(type: type, from: from, to: to, term: term)
    m.logTerm = logTerm
    m.index = index
    m.entries = entries
    m.commit = commit
    m.reject = reject
    return m
}

/// Entries with the given terms at consecutive indexes starting at `first`.
func entries(_ terms: [UInt64], from first: UInt64) -> [RaftEntry] {
    terms.enumerated().map { RaftEntry(term: $0.element, index: first + UInt64($0.offset)) }
}

/// The paper's algorithm: no PreVote, no CheckQuorum.
func classic(_ config: inout RaftConfig) {
    config.preVote = false
    config.checkQuorum = false
}
