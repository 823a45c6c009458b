/// Log replication (Raft §5.3), commitment (§5.4.2) and snapshots (§7).
extension Raft {
    /// Sends the follower the entries it lacks (or the snapshot when they are compacted away); returns
    /// whether a message was sent. `sendIfEmpty` sends an append without entries (to carry the commit
    /// index or probe).
    @discardableResult
    mutating func sendAppend(to peer: RaftNodeID, sendIfEmpty: Bool) -> Bool {
        guard var pr = progress[peer], !pr.isPaused(maxInflight: config.maxInflightMessages) else { return false }
        let previousIndex = pr.next - 1
        guard let previousTerm = log.term(at: previousIndex),
            let entries = log.entries(from: pr.next, to: log.lastIndex + 1, limit: config.maxEntriesPerMessage)
        else {
            // What the follower needs is compacted away: send the snapshot.
            var message = RaftMessage(type: .snapshot, from: id, to: peer, term: term)
            message.snapshot = log.snapshot
            messages.append(message)
            counters.snapshotsSent += 1
            logInfo(
                "\(id) [firstindex: \(log.firstIndex), commit: \(log.committed)] sent snapshot[index: "
                    + "\(log.snapshot.index), term: \(log.snapshot.term)] to \(peer)")
            pr.becomeSnapshot(log.snapshot.index)
            progress[peer] = pr
            return true
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        var message = RaftMessage(type: .append, from: id, to: peer, term: term)
        message.index = previousIndex
        message.logTerm = previousTerm
        message.entries = entries
        message.commit = log.committed
        messages.append(message)
        // The follower commits at most up to the last entry of this message.
        pr.sentCommit = max(pr.sentCommit, min(log.committed, entries.last?.index ?? previousIndex))
        switch pr.state {
        case .replicate:
            if let last = entries.last {
                pr.next = last.index + 1
                pr.inflight.append(last.index)
            }
        case .probe:
            pr.probeSent = true
        case .snapshot:
            preconditionFailure("no append is sent while a snapshot is pending")
        }
        progress[peer] = pr
        return true
    }

    mutating func broadcastAppend() {
        for peer in config.voters where peer != id { sendAppend(to: peer, sendIfEmpty: true) }
    }

    mutating func sendHeartbeat(to peer: RaftNodeID) {
        var message = RaftMessage(type: .heartbeat, from: id, to: peer, term: term)
        // Never more than the follower is known to hold: it could not commit entries it lacks.
        message.commit = min(progress[peer]?.match ?? 0, log.committed)
        messages.append(message)
        if let sent = progress[peer]?.sentCommit, sent < message.commit { progress[peer]?.sentCommit = message.commit }
    }

    /// Advances the commit index to the highest index durable on a quorum, if that entry has the current
    /// term: entries of earlier terms are committed only indirectly (Raft §5.4.2, Figure 8).
    mutating func maybeCommit() -> Bool {
        let matches = config.voters.map { progress[$0]?.match ?? 0 }.sorted(by: >)
        let quorumIndex = matches[config.quorum - 1]
        guard quorumIndex > log.committed, log.term(at: quorumIndex) == term else { return false }
        log.commit(to: quorumIndex)
        return true
    }

    /// A follower receives entries: the log-matching check on the preceding entry, then the append.
    mutating func handleAppend(_ m: RaftMessage) {
        var response = RaftMessage(type: .appendResponse, from: id, to: m.from, term: term)
        if m.index < log.committed {
            // Everything up to the commit index already matches.
            response.index = log.committed
            messages.append(response)
            return
        }
        if log.matchTerm(m.index, m.logTerm) {
            let lastNew = m.index + UInt64(m.entries.count)
            _ = log.append(m.entries)
            log.commit(to: min(m.commit, lastNew))
            response.index = lastNew
            messages.append(response)
            return
        }
        // Reject with a hint: the largest index at or below the probe whose term is at most the probe's
        // term, so the leader skips a whole term of mismatches per round trip.
        let hint = log.findConflictByTerm(index: min(m.index, log.lastIndex), term: m.logTerm)
        logInfo(
            "\(id) [logterm: \(log.term(at: m.index) ?? 0), index: \(m.index)] rejected App [logterm: \(m.logTerm), "
                + "index: \(m.index)] from \(m.from)")
        response.index = m.index
        response.reject = true
        response.rejectHint = hint.index
        response.logTerm = hint.term
        messages.append(response)
    }

    mutating func handleHeartbeat(_ m: RaftMessage) {
        log.commit(to: m.commit)
        messages.append(RaftMessage(type: .heartbeatResponse, from: id, to: m.from, term: term))
    }

    mutating func handleSnapshot(_ m: RaftMessage) {
        guard let snapshot = m.snapshot else { return }
        var response = RaftMessage(type: .appendResponse, from: id, to: m.from, term: term)
        if restore(snapshot) {
            logInfo(
                "\(id) [commit: \(log.committed)] restored snapshot [index: \(snapshot.index), term: "
                    + "\(snapshot.term)]")
            response.index = log.lastIndex
        } else {
            logInfo(
                "\(id) [commit: \(log.committed)] ignored snapshot [index: \(snapshot.index), term: "
                    + "\(snapshot.term)]")
            response.index = log.committed
        }
        messages.append(response)
    }

    /// Installs a leader's snapshot unless the log already holds what it covers.
    private mutating func restore(_ snapshot: RaftSnapshot) -> Bool {
        if snapshot.index <= log.committed { return false }
        if log.matchTerm(snapshot.index, snapshot.term) {
            // Our log has the snapshot's last entry, hence (log matching) everything before it: just commit.
            log.commit(to: snapshot.index)
            return false
        }
        log.restore(snapshot)
        return true
    }
}
