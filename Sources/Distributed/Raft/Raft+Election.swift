/// Terms, roles and elections (Raft §5.2, PreVote and CheckQuorum from Ongaro's thesis §9.6 and §6.4).
extension Raft {
    mutating func tickElection() {
        electionElapsed += 1
        if electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            hup(transfer: false)
        }
    }

    mutating func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum { checkQuorum() }
            if role == .leader && leadTransferee != 0 {
                logInfo("\(id) [term \(term)] abandons the transfer of leadership to \(leadTransferee)")
                leadTransferee = 0
            }
        }
        guard role == .leader else { return }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            for peer in config.voters where peer != id { sendHeartbeat(to: peer) }
        }
    }

    /// A leader that has not heard from a quorum (itself included) within an election timeout steps down,
    /// so clients stop waiting on a leader that cannot commit.
    private mutating func checkQuorum() {
        let active = config.voters.filter { $0 == id || progress[$0]?.recentActive == true }.count
        for peer in config.voters where peer != id { progress[peer]?.recentActive = false }
        if active < config.quorum {
            logInfo("\(id) stepped down to follower since quorum is not active")
            becomeFollower(term: term, leader: 0)
        }
    }

    /// The election timer fired (or `campaign`/`timeoutNow` asked for an election).
    mutating func hup(transfer: Bool) {
        guard role != .leader else { return }
        logInfo("\(id) is starting a new election at term \(term)")
        if config.preVote && !transfer {
            startCampaign(preVote: true, transfer: false)
        } else {
            startCampaign(preVote: false, transfer: transfer)
        }
    }

    private mutating func startCampaign(preVote: Bool, transfer: Bool) {
        let requestTerm: UInt64
        if preVote {
            becomePreCandidate()
            requestTerm = term + 1
        } else {
            becomeCandidate()
            requestTerm = term
        }
        // The replica's own vote counts at once: the votes it asks for are sent only after the `RaftReady`
        // that persists its term and vote.
        if tally(from: id, granted: true) == .won {
            if preVote { startCampaign(preVote: false, transfer: transfer) } else { becomeLeader() }
            return
        }
        let type: RaftMessageType = preVote ? .preVote : .vote
        for peer in config.voters where peer != id {
            logInfo(
                "\(id) [logterm: \(log.lastTerm), index: \(log.lastIndex)] sent \(type.rawValue) request "
                    + "to \(peer) at term \(term)")
            var message = RaftMessage(type: type, from: id, to: peer, term: requestTerm)
            message.logTerm = log.lastTerm
            message.index = log.lastIndex
            message.transfer = transfer
            messages.append(message)
        }
    }

    enum VoteResult { case pending, won, lost }

    /// Records a (pre-)vote and reports whether the election is decided.
    mutating func tally(from voter: RaftNodeID, granted: Bool) -> VoteResult {
        if votes[voter] == nil { votes[voter] = granted }
        let yes = votes.values.filter { $0 }.count
        let no = votes.count - yes
        if voter != id || !granted {
            logInfo("\(id) has received \(yes) votes and \(no) vote rejections")
        }
        if yes >= config.quorum { return .won }
        if no > config.voters.count - config.quorum { return .lost }
        return .pending
    }

    /// Clears the per-term volatile state; a new term also clears the vote.
    private mutating func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        leader = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout =
            config.randomizeElectionTimeout
            ? config.electionTicks + Int(random.next() % UInt64(config.electionTicks)) : config.electionTicks
        leadTransferee = 0
        votes = [:]
        progress = [:]
        for peer in config.voters {
            var pr = Progress(next: log.lastIndex + 1)
            if peer == id {
                // Only what is durable counts toward the quorum.
                pr.match = log.stableIndex
            }
            progress[peer] = pr
        }
    }

    mutating func becomeFollower(term newTerm: UInt64, leader newLeader: RaftNodeID) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
        logInfo("\(id) became follower at term \(term)")
    }

    private mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader does not pre-campaign")
        // The term and vote do not change: a pre-election disturbs nobody.
        votes = [:]
        leader = 0
        role = .preCandidate
        logInfo("\(id) became pre-candidate at term \(term)")
    }

    private mutating func becomeCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        reset(term: term + 1)
        vote = id
        role = .candidate
        counters.electionsStarted += 1
        logInfo("\(id) became candidate at term \(term)")
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        reset(term: term)
        role = .leader
        leader = id
        counters.becameLeader += 1
        progress[id]?.becomeReplicate()
        progress[id]?.match = log.stableIndex
        // A no-op entry of the new term: committing it commits every earlier entry (Raft §5.4.2, §8).
        log.appendLeaderEntry(RaftEntry(term: term, index: log.lastIndex + 1))
        logInfo("\(id) became leader at term \(term)")
        broadcastAppend()
    }

    /// Votes for a candidate, or refuses (Raft §5.2, §5.4.1).
    mutating func handleVoteRequest(_ m: RaftMessage) {
        // A repeated vote, or no vote yet and no leader known, or a pre-vote for a later term.
        let canVote =
            vote == m.from || (vote == 0 && leader == 0) || (m.type == .preVote && m.term > term)
        if canVote && log.isUpToDate(lastTerm: m.logTerm, lastIndex: m.index) {
            logInfo(
                "\(id) [logterm: \(log.lastTerm), index: \(log.lastIndex), vote: \(vote)] cast \(m.type.rawValue) "
                    + "for \(m.from) [logterm: \(m.logTerm), index: \(m.index)] at term \(term)")
            // The response carries the request's term: a pre-vote is for a term this replica has not reached.
            messages.append(RaftMessage(type: m.type.voteResponse, from: id, to: m.from, term: m.term))
            if m.type == .vote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            logInfo(
                "\(id) [logterm: \(log.lastTerm), index: \(log.lastIndex), vote: \(vote)] rejected "
                    + "\(m.type.rawValue) from \(m.from) [logterm: \(m.logTerm), index: \(m.index)] at term \(term)")
            var response = RaftMessage(type: m.type.voteResponse, from: id, to: m.from, term: term)
            response.reject = true
            messages.append(response)
        }
    }

    /// A (pre-)candidate counts a vote response.
    mutating func handleVoteResponse(_ m: RaftMessage) {
        let expected: RaftMessageType = role == .preCandidate ? .preVoteResponse : .voteResponse
        guard m.type == expected else { return }
        logInfo("\(id) received \(m.type.rawValue)\(m.reject ? " rejection" : "") from \(m.from) at term \(term)")
        switch tally(from: m.from, granted: !m.reject) {
        case .won:
            if role == .preCandidate {
                startCampaign(preVote: false, transfer: false)
            } else {
                becomeLeader()
            }
        case .lost:
            // A pre-candidate returns to following at its unchanged term; a candidate stays at its term.
            becomeFollower(term: term, leader: 0)
        case .pending:
            break
        }
    }

    func timeoutNowMessage(to target: RaftNodeID) -> RaftMessage {
        RaftMessage(type: .timeoutNow, from: id, to: target, term: term)
    }

    mutating func sendTimeoutNow(to target: RaftNodeID) {
        logInfo("\(id) sends TimeoutNow to \(target) immediately as \(target) already has up-to-date log")
        messages.append(timeoutNowMessage(to: target))
    }
}
