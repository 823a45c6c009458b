/// The parameters of one replica's Raft core. Ticks are abstract: the node loop calls `tick()` on its clock
/// (for example every 10 ms), so the core itself never reads time.
package struct RaftConfig: Sendable {
    /// This replica's id (non-zero).
    package var id: RaftNodeID
    /// Every voter of the group, this replica included (a fixed membership: no configuration changes).
    package var voters: [RaftNodeID]
    /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is drawn
    /// uniformly from `electionTicks ..< 2 * electionTicks` after every reset (Raft §5.2).
    package var electionTicks: Int = 10
    /// Ticks between a leader's heartbeats (must be below `electionTicks`).
    package var heartbeatTicks: Int = 1
    /// Ask for pre-votes before raising the term, so a partitioned replica does not disrupt the group on
    /// rejoining (thesis §9.6).
    package var preVote: Bool = true
    /// A leader steps down when it has not heard from a quorum for an election timeout, and followers
    /// that heard from a leader within the timeout ignore vote requests (the leader lease, thesis §6.4).
    package var checkQuorum: Bool = true
    /// Seeds the election-timeout jitter (`SplitMix64`), so a simulation replays exactly.
    package var seed: UInt64 = 0
    /// Draw randomized election timeouts (true in production). Scripted tests turn it off so a timeout is
    /// exactly `electionTicks`.
    package var randomizeElectionTimeout: Bool = true
    /// The most entries one append message carries (a bound on message size).
    package var maxEntriesPerMessage: Int = 256
    /// The most append messages with entries in flight to one replicating follower (flow control: a slow
    /// or unreachable follower does not make the leader queue without bound).
    package var maxInflightMessages: Int = 256
    /// The most entries a leader holds uncommitted; further proposals are refused (a bound on memory).
    package var maxUncommittedEntries: Int = 10_000
    /// Record human-readable log lines (scripted tests print them); off by default.
    package var recordLog: Bool = false

    package init(id: RaftNodeID, voters: [RaftNodeID]) {
        self.id = id
        self.voters = voters
    }

    /// The number of votes or acknowledgements that make a majority of the voters.
    var quorum: Int { voters.count / 2 + 1 }
}
