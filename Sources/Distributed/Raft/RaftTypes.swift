/// A replica's identity inside one Raft group. Zero means "none" (no vote, no known leader).
package typealias RaftNodeID = UInt64

/// One entry of the replicated log: the term of the leader that created it, its position, and the
/// command it carries (empty for the no-op a new leader appends to commit its term).
package struct RaftEntry: Sendable, Equatable, Hashable {
    package var term: UInt64
    package var index: UInt64
    package var data: [UInt8]

    package init(term: UInt64, index: UInt64, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.data = data
    }
}

/// What a replica must persist before it sends the messages of the same `RaftReady`: the current term, the
/// candidate voted for in it, and the commit index (Raft §5.1, Figure 2 "persistent state").
package struct RaftHardState: Sendable, Equatable, Hashable {
    package var term: UInt64
    package var vote: RaftNodeID
    package var commit: UInt64

    package init(term: UInt64 = 0, vote: RaftNodeID = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The role a replica plays in its current term.
package enum RaftRole: String, Sendable, Equatable {
    case follower
    /// A follower whose election timer fired and which asks for pre-votes without raising its term.
    case preCandidate
    case candidate
    case leader
}

/// Volatile state a client or the node loop observes (not persisted): the known leader and the role.
package struct RaftSoftState: Sendable, Equatable {
    /// The leader of the current term as far as this replica knows; 0 when unknown.
    package var leader: RaftNodeID
    package var role: RaftRole
}

/// A compacted prefix of the log: everything up to and including `index` (whose entry had `term`), as the
/// state machine's serialized state `data`.
package struct RaftSnapshot: Sendable, Equatable, Hashable {
    package var index: UInt64
    package var term: UInt64
    package var data: [UInt8]

    package init(index: UInt64, term: UInt64, data: [UInt8] = []) {
        self.index = index
        self.term = term
        self.data = data
    }
}

/// The kinds of message replicas exchange (Raft §5 plus PreVote §9.6 and leadership transfer §3.10 of
/// Ongaro's thesis).
package enum RaftMessageType: String, Sendable, Equatable, CaseIterable {
    case vote = "Vote"
    case voteResponse = "VoteResp"
    case preVote = "PreVote"
    case preVoteResponse = "PreVoteResp"
    case append = "App"
    case appendResponse = "AppResp"
    case heartbeat = "Heartbeat"
    case heartbeatResponse = "HeartbeatResp"
    case snapshot = "Snap"
    case timeoutNow = "TimeoutNow"

    /// The response type to a vote or pre-vote request.
    var voteResponse: RaftMessageType { self == .preVote ? .preVoteResponse : .voteResponse }
}

/// A message between two replicas of a group. A value: the transport copies it, no replica reads another's
/// memory. Fields unused by a type are zero.
package struct RaftMessage: Sendable, Equatable {
    package var type: RaftMessageType
    package var from: RaftNodeID
    package var to: RaftNodeID
    package var term: UInt64
    /// For `append`: the term of the entry at `index` (the entry preceding `entries`). For a vote request:
    /// the term of the candidate's last entry. For a rejected `appendResponse`: the term at `rejectHint`.
    package var logTerm: UInt64 = 0
    /// For `append`: the index preceding `entries`. For a vote request: the candidate's last index. For an
    /// `appendResponse`: the last index now matching the leader (or, when rejected, the rejected index).
    package var index: UInt64 = 0
    package var entries: [RaftEntry] = []
    /// The sender's commit index (`append`, `heartbeat`).
    package var commit: UInt64 = 0
    package var reject: Bool = false
    /// For a rejected `appendResponse`: the follower's best guess of the highest index that may match.
    package var rejectHint: UInt64 = 0
    package var snapshot: RaftSnapshot? = nil
    /// A vote request sent after `timeoutNow`: it may disturb a leader lease (leadership transfer).
    package var transfer: Bool = false

    package init(type: RaftMessageType, from: RaftNodeID, to: RaftNodeID, term: UInt64) {
        self.type = type
        self.from = from
        self.to = to
        self.term = term
    }

    /// A leader's append, heartbeat or snapshot promises nothing about the leader's own disk, so the host may
    /// send it while the same `RaftReady` is still being written (the leader's fsync in parallel with its
    /// followers', thesis §10.2.1); every other message waits until that write is durable.
    package var maySendBeforePersisting: Bool {
        type == .append || type == .heartbeat || type == .snapshot
    }

    /// An estimate of the message's size on the wire (a fixed header plus the payloads), for byte counters.
    package var byteSize: Int {
        var size = 64
        for entry in entries { size += 24 + entry.data.count }
        if let snapshot { size += 24 + snapshot.data.count }
        return size
    }
}

/// Why a proposal or a leadership transfer was refused. `notLeader` carries the leader to redirect to.
package enum RaftError: Error, Equatable, Sendable {
    /// This replica is not the leader; `leader` is the current leader if known (redirect the client there).
    case notLeader(leader: RaftNodeID?)
    /// A leadership transfer is in progress; proposals are refused until it ends.
    case transferInProgress
    /// More than `RaftConfig.maxUncommittedEntries` entries are waiting to commit.
    case tooManyUncommittedEntries
    /// The node named is not a voter of the group.
    case unknownNode(RaftNodeID)
}

extension RaftError: CustomStringConvertible {
    package var description: String {
        switch self {
        case .notLeader(let leader): "not the leader (leader: \(leader.map(String.init) ?? "unknown"))"
        case .transferInProgress: "a leadership transfer is in progress"
        case .tooManyUncommittedEntries: "too many uncommitted entries"
        case .unknownNode(let id): "node \(id) is not a voter"
        }
    }
}
