import Testing

@testable import Distributed

/// The rules of the Raft paper (Ongaro and Ousterhout, "In Search of an Understandable Consensus
/// Algorithm", extended version), sentence by sentence, as etcd's raft_paper_test.go does. Unless a test
/// says otherwise the classic algorithm runs (no PreVote, no CheckQuorum), as in the paper.
@Suite("Raft paper rules")
struct RaftPaperTests {
    // MARK: §5.1 terms

    @Test(
        "§5.1: if one server's current term is smaller than the other's, it updates its current term to the larger value",
        arguments: [RaftRole.follower, .candidate, .leader])
    func updateTermFromMessage(role: RaftRole) {
        var r = makeRaft(configure: classic)
        if role != .follower { r.campaign() }
        if role == .leader {
            drain(&r)
            r.step(message(.voteResponse, from: 2, to: 1, term: 1))
        }
        #expect(r.role == role)
        r.step(message(.append, from: 2, to: 1, term: 5))
        #expect(r.term == 5)
        #expect(r.role == .follower)
        #expect(r.leader == 2)
    }

    @Test("§5.1: if a server receives a request with a stale term number, it rejects the request")
    func rejectStaleTerm() {
        var r = makeRaft(term: 2, log: [1, 2])
        r.step(message(.append, from: 2, to: 1, term: 1, logTerm: 2, index: 2, entries: entries([1], from: 3)))
        #expect(r.lastIndex == 2)
        #expect(r.term == 2)
        // The answer carries the newer term, so the stale leader steps down.
        let out = drain(&r).messages
        #expect(out.map(\.type) == [.appendResponse])
        #expect(out.first?.term == 2)
    }

    // MARK: §5.2 leader election

    @Test("§5.2: when servers start up, they begin as followers")
    func startAsFollower() {
        let r = makeRaft()
        #expect(r.role == .follower)
        #expect(r.leader == 0)
    }

    @Test("§5.2: leaders send periodic heartbeats to all followers in order to maintain their authority")
    func leaderBroadcastsHeartbeat() {
        var n = RaftTestNetwork(size: 3, configure: classic)
        n.elect(1)
        n.tick(1, times: n[1].config.heartbeatTicks)
        let out = n.processReady(1).messages
        #expect(out.filter { $0.type == .heartbeat }.map(\.to).sorted() == [2, 3])
        #expect(out.allSatisfy { $0.term == n[1].term })
    }

    @Test(
        "§5.2: a follower that receives no communication over the election timeout begins an election: it increments its term, votes for itself and asks every other server for a vote"
    )
    func followerStartsElection() {
        var r = makeRaft(term: 1, configure: classic)
        for _ in 0..<r.config.electionTicks { r.tick() }
        #expect(r.role == .candidate)
        #expect(r.term == 2)
        #expect(r.vote == 1)
        let ready = drain(&r)
        #expect(ready.hardState == RaftHardState(term: 2, vote: 1, commit: 0))
        #expect(ready.mustSync)
        #expect(ready.messages.map(\.type) == [.vote, .vote])
        #expect(Set(ready.messages.map(\.to)) == [2, 3])
        #expect(ready.messages.allSatisfy { $0.term == 2 })
    }

    @Test("§5.2: a candidate whose election times out starts a new election by incrementing its term")
    func candidateStartsNewElection() {
        var r = makeRaft(term: 1, configure: classic)
        r.campaign()
        drain(&r)
        #expect(r.term == 2)
        for _ in 0..<r.config.electionTicks { r.tick() }
        #expect(r.role == .candidate)
        #expect(r.term == 3)
        #expect(drain(&r).messages.map(\.type) == [.vote, .vote])
    }

    struct ElectionCase: Sendable, CustomTestStringConvertible {
        let size: Int
        let votes: [RaftNodeID: Bool]
        let expected: RaftRole
        var testDescription: String { "\(size) voters, votes \(votes.sorted { $0.key < $1.key }) → \(expected)" }
    }

    @Test(
        "§5.2: a candidate wins with votes from a majority, returns to follower on a majority of rejections, and otherwise keeps waiting",
        arguments: [
            ElectionCase(size: 1, votes: [:], expected: .leader),
            ElectionCase(size: 3, votes: [2: true, 3: true], expected: .leader),
            ElectionCase(size: 3, votes: [2: true], expected: .leader),
            ElectionCase(size: 5, votes: [2: true, 3: true, 4: true, 5: true], expected: .leader),
            ElectionCase(size: 5, votes: [2: true, 3: true], expected: .leader),
            ElectionCase(size: 3, votes: [:], expected: .candidate),
            ElectionCase(size: 5, votes: [2: true], expected: .candidate),
            ElectionCase(size: 5, votes: [2: false, 3: false], expected: .candidate),
            ElectionCase(size: 3, votes: [2: false, 3: false], expected: .follower),
            ElectionCase(size: 5, votes: [2: false, 3: false, 4: false], expected: .follower),
        ])
    func electionInOneRound(_ c: ElectionCase) {
        var r = makeRaft(voters: (1...c.size).map { RaftNodeID($0) }, configure: classic)
        r.campaign()
        if c.size > 1 { drain(&r) }
        for (voter, granted) in c.votes.sorted(by: { $0.key < $1.key }) {
            r.step(message(.voteResponse, from: voter, to: 1, term: r.term, reject: !granted))
        }
        #expect(r.role == c.expected)
        #expect(r.term == 1)
    }

    @Test("§5.2: each server will vote for at most one candidate in a given term, on a first-come-first-served basis")
    func followerVotesOnce() {
        for (previousVote, candidate, granted) in [(0, 2, true), (2, 2, true), (3, 2, false)]
            as [(UInt64, UInt64, Bool)]
        {
            var r = makeRaft(configure: classic)
            r.step(message(.append, from: 3, to: 1, term: 1))
            drain(&r)
            if previousVote != 0 {
                // A fresh follower of term 1 with no leader that voted for `previousVote`.
                r = Raft(
                    config: r.config,
                    persisted: RaftPersistentState(hardState: RaftHardState(term: 1, vote: previousVote)))
            } else {
                r = Raft(config: r.config, persisted: RaftPersistentState(hardState: RaftHardState(term: 1)))
            }
            r.step(message(.vote, from: candidate, to: 1, term: 1))
            let response = drain(&r).messages.first
            #expect(response?.type == .voteResponse)
            #expect(response?.reject == !granted, "vote \(previousVote), candidate \(candidate)")
        }
    }

    @Test(
        "§5.2: while waiting for votes, a candidate that receives AppendEntries from a leader whose term is at least its own returns to follower"
    )
    func candidateFallsBack() {
        for leaderTerm: UInt64 in [1, 2] {
            var r = makeRaft(configure: classic)
            r.campaign()
            drain(&r)
            #expect(r.role == .candidate)
            r.step(message(.append, from: 2, to: 1, term: leaderTerm))
            #expect(r.role == .follower)
            #expect(r.term == leaderTerm)
            #expect(r.leader == 2)
        }
    }

    @Test("§5.2: election timeouts are chosen randomly from a fixed interval [T, 2T)")
    func electionTimeoutRandomized() {
        var config = RaftConfig(id: 1, voters: [1, 2, 3])
        config.seed = 42
        var r = Raft(config: config)
        var seen: Set<Int> = []
        for _ in 0..<200 {
            // Ticks until the follower campaigns, then back to follower for the next draw.
            var ticks = 0
            while r.role == .follower {
                r.tick()
                ticks += 1
            }
            seen.insert(ticks)
            r.step(message(.heartbeat, from: 2, to: 1, term: r.term + 1))
            drain(&r)
        }
        let t = config.electionTicks
        #expect(seen.allSatisfy { (t..<2 * t).contains($0) })
        #expect(seen.count >= t / 2, "timeouts drawn: \(seen.sorted())")
    }

    // MARK: §5.3 log replication

    @Test(
        "§5.3: the leader appends the command to its log as a new entry, then issues AppendEntries in parallel to each of the other servers"
    )
    func leaderStartsReplication() throws {
        var n = RaftTestNetwork(size: 3, configure: classic)
        n.elect(1)
        let last = n[1].lastIndex
        let index = try n[1].propose([7])
        #expect(index == last + 1)
        #expect(n[1].entry(at: index) == RaftEntry(term: 1, index: index, data: [7]))
        let ready = n.processReady(1)
        #expect(ready.entries == [RaftEntry(term: 1, index: index, data: [7])])
        let appends = ready.messages.filter { $0.type == .append }
        #expect(appends.map(\.to).sorted() == [2, 3])
        for m in appends {
            #expect(m.index == last)
            #expect(m.logTerm == 1)
            #expect(m.entries == [RaftEntry(term: 1, index: index, data: [7])])
            #expect(m.commit == n[1].commitIndex)
        }
    }

    @Test(
        "§5.3: a log entry is committed once the leader that created it has replicated it on a majority; the leader applies it and includes the commit index in later AppendEntries"
    )
    func leaderCommitsEntry() throws {
        var n = RaftTestNetwork(size: 5, configure: classic)
        n.elect(1)
        let index = try n[1].propose([1])
        n.processReady(1)
        n.isolated = [4, 5]
        n.queue.removeAll { $0.to == 4 || $0.to == 5 }
        n.stabilize()
        #expect(n[1].commitIndex == index)
        #expect(n.applied[0].last?.data == [1])
        // Followers learn the commit index from the next append or heartbeat.
        #expect(n[2].commitIndex == index)
        #expect(n.applied[1].last?.index == index)
    }

    @Test(
        "§5.3: a follower whose acknowledgement arrives after the entry committed is told the commit index at once, not at the next heartbeat"
    )
    func lateAcknowledgerLearnsCommit() {
        // Regression: after an election both followers are probed; the second acknowledgement of the no-op
        // moved no commit index, and that follower was left without it until a heartbeat.
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        #expect(n[1].commitIndex == 1)
        #expect(n[2].commitIndex == 1)
        #expect(n[3].commitIndex == 1)
        #expect(n.applied[2].map(\.index) == [1])
    }

    @Test("§5.3: a leader commits nothing on acknowledgements from a minority")
    func minorityDoesNotCommit() throws {
        var n = RaftTestNetwork(size: 5, configure: classic)
        n.elect(1)
        let before = n[1].commitIndex
        n.isolated = [3, 4, 5]
        try n[1].propose([1])
        n.stabilize()
        #expect(n[1].commitIndex == before)
        n.isolated = []
        n.tick(1, times: n[1].config.heartbeatTicks)
        n.stabilize()
        #expect(n[1].commitIndex == before + 1)
    }

    @Test(
        "§5.3 (persistence before acknowledgement): the leader's own entry counts toward the quorum only once reported durable"
    )
    func leaderCountsItselfOnlyWhenDurable() throws {
        var r = makeRaft(voters: [1], configure: classic)
        r.campaign()
        drain(&r)
        #expect(r.role == .leader)
        #expect(r.commitIndex == 1)
        #expect(drain(&r).committedEntries.map(\.index) == [1])
        let index = try r.propose([9])
        #expect(r.commitIndex == 1, "not committed before the leader's own write is durable")
        let write = r.ready()
        #expect(write.entries.map(\.index) == [index])
        #expect(write.committedEntries.isEmpty)
        #expect(write.mustSync)
        r.advance(write)
        #expect(r.commitIndex == index)
        #expect(drain(&r).committedEntries.map(\.data) == [[9]])
    }

    @Test(
        "§5.3: when the leader commits an entry it also commits all preceding entries, including those of earlier leaders"
    )
    func leaderCommitsPrecedingEntries() {
        var n = RaftTestNetwork(size: 3, logs: [[1, 2], [1, 2], [1]], terms: [2, 2, 2], configure: classic)
        n.elect(1)
        #expect(n[1].term == 3)
        #expect(n[1].commitIndex == 3)
        #expect(n.applied[0].map(\.term) == [1, 2, 3])
    }

    @Test(
        "§5.3: once a follower learns that a log entry is committed, it applies the entry to its state machine in order"
    )
    func followerAppliesCommitted() {
        var r = makeRaft(id: 2)
        r.step(message(.append, from: 1, to: 2, term: 1, entries: entries([1, 1, 1], from: 1), commit: 2))
        let ready = drain(&r)
        #expect(ready.committedEntries.map(\.index) == [1, 2])
        #expect(r.commitIndex == 2)
        r.step(message(.heartbeat, from: 1, to: 2, term: 1, commit: 3))
        #expect(drain(&r).committedEntries.map(\.index) == [3])
    }

    @Test(
        "§5.3: if the follower does not find an entry in its log with the same index and term, it refuses the new entries (with a hint for the leader)"
    )
    func followerChecksPrecedingEntry() {
        // Follower log: terms [1, 2], committed 1.
        let cases: [(index: UInt64, logTerm: UInt64, reject: Bool, hint: UInt64, hintTerm: UInt64)] = [
            (0, 0, false, 0, 0),
            (1, 1, false, 0, 0),
            (2, 2, false, 0, 0),
            (2, 1, true, 1, 1),
            (3, 3, true, 2, 2),
        ]
        for c in cases {
            var r = makeRaft(id: 2, term: 2, log: [1, 2])
            r.step(message(.heartbeat, from: 1, to: 2, term: 2, commit: 1))
            drain(&r)
            r.step(message(.append, from: 1, to: 2, term: 2, logTerm: c.logTerm, index: c.index, commit: 1))
            let response = drain(&r).messages.first!
            #expect(response.reject == c.reject, "probe \(c.index)/\(c.logTerm)")
            if c.reject {
                #expect(response.index == c.index)
                #expect(response.rejectHint == c.hint)
                #expect(response.logTerm == c.hintTerm)
            }
        }
    }

    @Test(
        "§5.3: if an existing entry conflicts with a new one (same index, different terms), the follower deletes it and all that follow, then appends the new entries"
    )
    func followerAppendsEntries() {
        let cases: [(index: UInt64, logTerm: UInt64, new: [RaftEntry], expected: [UInt64], unstable: [UInt64])] = [
            (2, 2, entries([3], from: 3), [1, 2, 3], [3]),
            (1, 1, entries([3, 4], from: 2), [1, 3, 4], [2, 3]),
            (0, 0, entries([1], from: 1), [1, 2], []),
            (0, 0, entries([3], from: 1), [3], [1]),
        ]
        for c in cases {
            var r = makeRaft(id: 2, term: 2, log: [1, 2])
            r.step(message(.append, from: 1, to: 2, term: 2, logTerm: c.logTerm, index: c.index, entries: c.new))
            let terms = (r.firstIndex...max(r.lastIndex, r.firstIndex)).compactMap { r.term(at: $0) }
            #expect(terms == c.expected)
            #expect(drain(&r).entries.map(\.index) == c.unstable)
        }
    }

    @Test(
        "§5.3 Figure 7: the leader brings every follower's log into consistency with its own, whatever its divergence",
        arguments: [
            [1, 1, 1, 4, 4, 5, 5, 6, 6],  // (a) missing entries
            [1, 1, 1, 4],  // (b)
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  // (c) an extra uncommitted entry
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  // (d) extra entries of a later term
            [1, 1, 1, 4, 4, 4, 4],  // (e) a divergent tail of term 4
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  // (f) divergent tails of terms 2 and 3
        ] as [[UInt64]])
    func leaderSyncsFollowerLog(follower: [UInt64]) {
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        var n = RaftTestNetwork(size: 3, logs: [leaderLog, follower, leaderLog], terms: [8, 8, 8], configure: classic)
        // Replica 3 votes for 1 (identical logs); 2 follows the new leader whatever it held.
        n.elect(1)
        #expect(n[1].role == .leader)
        n.stabilize()
        #expect(n.logTerms(2) == leaderLog + [9])
        #expect(n.logTerms(2) == n.logTerms(1))
    }

    // MARK: §5.4 safety

    @Test("§5.4.1: the vote request includes the candidate's last log index and term")
    func voteRequestCarriesLastEntry() {
        var r = makeRaft(term: 3, log: [1, 2, 3], configure: classic)
        r.campaign()
        for m in drain(&r).messages {
            #expect(m.type == .vote)
            #expect(m.index == 3)
            #expect(m.logTerm == 3)
            #expect(m.term == 4)
        }
    }

    @Test(
        "§5.4.1: the voter denies its vote if its own log is more up-to-date than the candidate's (later last term, or same term and longer)"
    )
    func voterComparesLogs() {
        let cases: [(log: [UInt64], candidateTerm: UInt64, candidateIndex: UInt64, granted: Bool)] = [
            ([1], 1, 1, true),
            ([1], 1, 2, true),
            ([1, 1], 1, 1, false),
            ([1], 2, 1, true),
            ([1, 1], 2, 1, true),
            ([2], 1, 1, false),
            ([2], 1, 2, false),
            ([1, 2], 1, 5, false),
        ]
        for c in cases {
            var r = makeRaft(id: 2, log: c.log, configure: classic)
            r.step(message(.vote, from: 1, to: 2, term: 3, logTerm: c.candidateTerm, index: c.candidateIndex))
            let response = drain(&r).messages.first!
            #expect(response.reject == !c.granted, "voter \(c.log), candidate \(c.candidateIndex)/\(c.candidateTerm)")
        }
    }

    @Test(
        "§5.4.2 Figure 8: only entries from the leader's current term are committed by counting replicas; earlier entries are committed indirectly"
    )
    func onlyCurrentTermCommittedByCounting() {
        // The leader (term 3) holds an old entry of term 2 at index 2 that no follower has.
        var r = makeRaft(term: 2, log: [1, 2], configure: classic)
        r.campaign()
        drain(&r)
        r.step(message(.voteResponse, from: 2, to: 1, term: 3))
        #expect(r.role == .leader)
        drain(&r)
        // A follower acknowledges index 2 (term 2) only: a majority holds it, yet it is not committed.
        r.step(message(.appendResponse, from: 2, to: 1, term: 3, index: 2))
        #expect(r.commitIndex == 0)
        // Once the no-op of term 3 (index 3) is on a majority, everything up to it commits.
        r.step(message(.appendResponse, from: 2, to: 1, term: 3, index: 3))
        #expect(r.commitIndex == 3)
    }

    // MARK: Beyond the paper's core: PreVote, CheckQuorum, snapshots, transfer, redirect

    @Test("PreVote (thesis §9.6): a pre-candidate asks for votes at term+1 without raising its own term")
    func preVoteKeepsTerm() {
        var r = makeRaft(term: 4)
        r.campaign()
        #expect(r.role == .preCandidate)
        #expect(r.term == 4)
        let ready = drain(&r)
        #expect(ready.hardState == nil)
        #expect(ready.messages.map(\.type) == [.preVote, .preVote])
        #expect(ready.messages.allSatisfy { $0.term == 5 })
        // A voter grants a pre-vote without changing its term or vote.
        var voter = makeRaft(id: 2, term: 4)
        voter.step(ready.messages.first { $0.to == 2 }!)
        #expect(voter.term == 4)
        #expect(voter.vote == 0)
        let response = drain(&voter).messages.first!
        #expect(response.type == .preVoteResponse)
        #expect(!response.reject)
        #expect(response.term == 5)
        r.step(response)
        #expect(r.role == .candidate)
        #expect(r.term == 5)
    }

    @Test("PreVote: a replica cut off from the group does not raise the term and disrupt the leader when it returns")
    func partitionedReplicaDoesNotDisrupt() {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        let term = n[1].term
        n.isolated = [3]
        for _ in 0..<5 {
            n.tick(3, times: n[3].config.electionTicks)
            n.stabilize()
        }
        #expect(n[3].term == term)
        #expect(n[3].role == .preCandidate)
        n.isolated = []
        n.tick(1, times: n[1].config.heartbeatTicks)
        n.stabilize()
        #expect(n[1].role == .leader)
        #expect(n[1].term == term)
        #expect(n[3].leader == 1)
    }

    @Test("CheckQuorum (thesis §6.4): a leader that has not heard from a quorum within an election timeout steps down")
    func checkQuorumStepsDown() {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        n.isolated = [1]
        n.tick(1, times: n[1].config.electionTicks)
        #expect(n[1].role == .leader, "still within the first quorum window (followers were active)")
        n.tick(1, times: n[1].config.electionTicks)
        #expect(n[1].role == .follower)
        #expect(n[1].leader == 0)
    }

    @Test(
        "CheckQuorum: a follower that heard from its leader within the election timeout ignores vote requests (lease)")
    func leaseIgnoresVotes() {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        let term = n[1].term
        n[2].step(message(.vote, from: 3, to: 2, term: term + 1, logTerm: n[3].lastTerm, index: n[3].lastIndex))
        #expect(n[2].term == term)
        #expect(n.processReady(2).messages.isEmpty)
    }

    @Test("§7: a follower far behind a compacted log receives the snapshot, then the entries after it")
    func laggingFollowerGetsSnapshot() throws {
        var n = RaftTestNetwork(size: 3, configure: classic)
        n.elect(1)
        n.isolated = [3]
        for value in 0..<10 { try n[1].propose([UInt8(value)]) }
        n.stabilize()
        let applied = n[1].appliedIndex
        let snapshot = n[1].compact(through: applied - 2, data: [42])
        n.disks[0].compact(to: snapshot)
        #expect(n[1].firstIndex == applied - 1)
        n.isolated = []
        n.tick(1, times: n[1].config.heartbeatTicks)
        n.stabilize()
        #expect(n[1].counters.snapshotsSent == 1)
        #expect(n[3].snapshot.index == snapshot.index)
        #expect(n[3].snapshot.data == [42])
        #expect(n.disks[2].snapshot == snapshot)
        #expect(n[3].lastIndex == n[1].lastIndex)
        #expect(n[3].appliedIndex == n[1].appliedIndex)
        #expect(n.applied[2].suffix(2).map(\.index) == Array(snapshot.index + 1...n[1].appliedIndex))
    }

    @Test(
        "§5.3 fast backtracking: the leader finds the match point in one round trip per divergent term, not per entry")
    func fastBacktracking() {
        // Figure 7 (f): 11 entries, 8 of them divergent, in two terms.
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        var n = RaftTestNetwork(
            size: 3, logs: [leaderLog, [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], leaderLog], terms: [8, 8, 8],
            configure: classic)
        n.elect(1)
        var rejections = 0
        // Count the rejected probes the follower sends while the leader catches it up.
        while n[1].hasReady || n[2].hasReady || n[3].hasReady || !n.queue.isEmpty {
            for id: RaftNodeID in 1...3 where n[id].hasReady { n.processReady(id) }
            let messages = n.queue
            n.queue = []
            rejections += messages.filter { $0.type == .appendResponse && $0.reject && $0.from == 2 }.count
            for m in messages { n[m.to].step(m) }
        }
        #expect(n.logTerms(2) == n.logTerms(1))
        #expect(rejections <= 2, "one rejection per divergent term, got \(rejections)")
    }

    @Test(
        "Flow control: a leader has at most maxInflightMessages appends in flight to a follower, and sends more as they are acknowledged"
    )
    func flowControl() throws {
        var n = RaftTestNetwork(size: 3) { $0.maxInflightMessages = 2 }
        n.elect(1)
        for value in 0..<5 { try n[1].propose([UInt8(value)]) }
        // Each proposal is sent at once until two appends are in flight; the rest wait.
        let appends = n.processReady(1).messages.filter { $0.type == .append && $0.to == 2 }
        #expect(appends.map { $0.entries.map(\.data) } == [[[0]], [[1]]])
        // The acknowledgement of the first frees room for the rest.
        let queued = n.queue
        n.queue = []
        n[2].step(queued.first { $0.to == 2 }!)
        n.processReady(2)
        let ack = n.queue.first { $0.type == .appendResponse }!
        n.queue = []
        n[1].step(ack)
        // One slot is free again: one message carries the three entries held back.
        let more = n.processReady(1).messages.filter { $0.type == .append && $0.to == 2 }
        #expect(more.count == 1)
        #expect(more.first?.entries.map(\.data) == [[2], [3], [4]])
    }

    @Test("Redirect: a replica that is not the leader refuses proposals and names the leader")
    func redirect() throws {
        var n = RaftTestNetwork(size: 3)
        #expect(throws: RaftError.notLeader(leader: nil)) { try n[2].propose([1]) }
        n.elect(1)
        #expect(throws: RaftError.notLeader(leader: 1)) { try n[2].propose([1]) }
        #expect(throws: RaftError.notLeader(leader: 1)) { try n[3].transferLeadership(to: 3) }
    }

    @Test(
        "Leadership transfer (thesis §3.10): the target catches up, receives TimeoutNow and wins at once, even inside the lease; proposals are refused meanwhile"
    )
    func leadershipTransfer() throws {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        n.isolated = [3]
        try n[1].propose([1])
        n.stabilize()
        n.isolated = []
        try n[1].transferLeadership(to: 3)
        #expect(throws: RaftError.transferInProgress) { try n[1].propose([2]) }
        n.stabilize()
        #expect(n[3].role == .leader)
        #expect(n[1].role == .follower)
        #expect(n[1].leader == 3)
        #expect(n[2].leader == 3)
        #expect(n.logTerms(3) == n.logTerms(1))
    }

    @Test("Leadership transfer: an attempt whose target never answers is abandoned after an election timeout")
    func transferAbandoned() throws {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        n.isolated = [3]
        try n[1].transferLeadership(to: 3)
        #expect(n[1].leadTransferee == 3)
        n.tick(1, times: n[1].config.electionTicks)
        #expect(n[1].leadTransferee == 0)
        #expect(n[1].role == .leader)
        try n[1].propose([1])
    }

    @Test("Restart: a replica restarts from its persisted hard state and log, and catches up on what it missed")
    func restartFromDisk() throws {
        var n = RaftTestNetwork(size: 3)
        n.elect(1)
        try n[1].propose([1])
        n.stabilize()
        let disk = n.disks[1]
        n[2] = Raft(config: n[2].config, persisted: disk)
        #expect(n[2].term == n[1].term)
        #expect(n[2].lastIndex == n[1].lastIndex)
        #expect(n[2].commitIndex == disk.hardState.commit)
        n.applied[1] = []
        try n[1].propose([2])
        n.stabilize()
        #expect(n.applied[1].map(\.data).last == [2])
        #expect(n[2].appliedIndex == n[1].appliedIndex)
    }
}
