/// Message handling: the term rules every message obeys first, then the role's own rules.
extension Raft {
    /// Handles one message from another replica of the group.
    package mutating func step(_ m: RaftMessage) {
        precondition(!awaitingAdvance, "step between ready() and advance()")
        guard m.to == id, m.from != id, config.voters.contains(m.from) else { return }
        if m.term > term {
            if m.type == .vote || m.type == .preVote {
                // CheckQuorum's lease: a replica that heard from a leader within the minimum election timeout
                // neither raises its term nor votes, unless the leader itself asked (transfer).
                let inLease = config.checkQuorum && leader != 0 && electionElapsed < config.electionTicks
                if !m.transfer && inLease {
                    logInfo(
                        "\(id) [logterm: \(log.lastTerm), index: \(log.lastIndex), vote: \(vote)] ignored "
                            + "\(m.type.rawValue) from \(m.from) [logterm: \(m.logTerm), index: \(m.index)] at term "
                            + "\(term): lease is not expired (remaining ticks: \(config.electionTicks - electionElapsed))"
                    )
                    return
                }
            }
            switch m.type {
            case .preVote:
                // A pre-vote never changes the term.
                break
            case .preVoteResponse where !m.reject:
                // Granted pre-votes carry the future term the pre-candidate asked for.
                break
            default:
                logInfo(
                    "\(id) [term: \(term)] received a \(m.type.rawValue) message with higher term from \(m.from) "
                        + "[term: \(m.term)]")
                let fromLeader = m.type == .append || m.type == .heartbeat || m.type == .snapshot
                becomeFollower(term: m.term, leader: fromLeader ? m.from : 0)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.type == .heartbeat || m.type == .append) {
                // A stale leader (or one cut off while we raised our term): tell it our term so it steps down
                // instead of the group needing a disruptive election.
                messages.append(RaftMessage(type: .appendResponse, from: id, to: m.from, term: term))
            } else if m.type == .preVote {
                logInfo(
                    "\(id) [logterm: \(log.lastTerm), index: \(log.lastIndex), vote: \(vote)] rejected "
                        + "\(m.type.rawValue) from \(m.from) [logterm: \(m.logTerm), index: \(m.index)] at term \(term)"
                )
                var response = RaftMessage(type: .preVoteResponse, from: id, to: m.from, term: term)
                response.reject = true
                messages.append(response)
            } else {
                logInfo(
                    "\(id) [term: \(term)] ignored a \(m.type.rawValue) message with lower term from \(m.from) "
                        + "[term: \(m.term)]")
            }
            return
        }

        switch m.type {
        case .vote, .preVote:
            handleVoteRequest(m)
        default:
            switch role {
            case .leader: stepLeader(m)
            case .candidate, .preCandidate: stepCandidate(m)
            case .follower: stepFollower(m)
            }
        }
    }

    private mutating func stepLeader(_ m: RaftMessage) {
        guard var pr = progress[m.from] else { return }
        switch m.type {
        case .appendResponse:
            pr.recentActive = true
            if m.reject {
                logInfo(
                    "\(id) received AppResp(rejected, hint: (index \(m.rejectHint), term \(m.logTerm))) from "
                        + "\(m.from) for index \(m.index)")
                var nextProbe = m.rejectHint
                if m.logTerm > 0 {
                    // Skip every index whose term in our log exceeds the follower's term at the hint.
                    nextProbe = log.findConflictByTerm(index: m.rejectHint, term: m.logTerm).index
                }
                if pr.maybeDecrease(rejected: m.index, matchHint: nextProbe) {
                    if pr.state == .replicate { pr.becomeProbe() }
                    progress[m.from] = pr
                    sendAppend(to: m.from, sendIfEmpty: true)
                    return
                }
                progress[m.from] = pr
                return
            }
            let updated = pr.maybeUpdate(m.index)
            if updated || (pr.match == m.index && pr.state == .probe) {
                switch pr.state {
                case .probe:
                    pr.becomeReplicate()
                case .snapshot where pr.match + 1 >= log.firstIndex:
                    pr.becomeProbe()
                    pr.becomeReplicate()
                default:
                    break
                }
            }
            progress[m.from] = pr
            if updated && maybeCommit() {
                broadcastAppend()
            } else if pr.canBumpCommit(log.committed) {
                // The follower may be missing the commit index (a heartbeat would tell it later).
                sendAppend(to: m.from, sendIfEmpty: true)
            }
            // Send what the follower still lacks (several bounded messages when replicating).
            var sent = 0
            while sent < 64 && sendAppend(to: m.from, sendIfEmpty: false) { sent += 1 }
            if m.from == leadTransferee && progress[m.from]?.match == log.lastIndex {
                logInfo("\(id) sent TimeoutNow to \(m.from) after its log caught up")
                messages.append(timeoutNowMessage(to: m.from))
            }
        case .heartbeatResponse:
            pr.recentActive = true
            pr.probeSent = false
            if pr.state == .replicate && pr.inflight.count >= config.maxInflightMessages {
                // Appends may have been lost: let one more through; a gap makes the follower reject it and
                // the leader probe again.
                pr.inflight.removeFirst()
            }
            if pr.state == .snapshot {
                // The snapshot (or its answer) may have been lost: probe again; a duplicate is harmless.
                pr.becomeProbe()
            }
            progress[m.from] = pr
            if pr.match < log.lastIndex || pr.state == .probe {
                sendAppend(to: m.from, sendIfEmpty: true)
            }
        default:
            // Vote responses from a finished election, and nothing else a leader of this term can receive.
            break
        }
    }

    private mutating func stepCandidate(_ m: RaftMessage) {
        switch m.type {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .snapshot:
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m)
        case .voteResponse, .preVoteResponse:
            handleVoteResponse(m)
        default:
            break
        }
    }

    private mutating func stepFollower(_ m: RaftMessage) {
        switch m.type {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            handleHeartbeat(m)
        case .snapshot:
            electionElapsed = 0
            leader = m.from
            handleSnapshot(m)
        case .timeoutNow:
            logInfo("\(id) [term \(term)] received TimeoutNow from \(m.from) and starts an election to get leadership")
            hup(transfer: true)
        default:
            break
        }
    }
}
