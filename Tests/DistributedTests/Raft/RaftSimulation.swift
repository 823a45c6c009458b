import Storage

@testable import Distributed

/// A seeded randomized simulation of one Raft group: replicas with a durable disk and a volatile state
/// machine, a network that delays, reorders, drops, duplicates and partitions messages, crashes that lose
/// everything not yet persisted, log compaction and leadership transfers. Every step is followed by a
/// check of Raft's safety properties; the first violation stops the run and is reported with the seed and
/// step, and the same seed replays the same run exactly.
struct RaftSimulation {
    struct Failure: Error, CustomStringConvertible {
        let seed: UInt64
        let step: Int
        let reason: String
        var description: String { "seed \(seed), step \(step): \(reason)" }
    }

    struct Replica {
        let config: RaftConfig
        var raft: Raft?
        var disk = RaftPersistentState()
        /// The state machine: a hash chain over applied entries.
        var appliedIndex: UInt64 = 0
        var stateHash: UInt64 = 0
        /// The highest commit index seen while this incarnation runs.
        var lastCommit: UInt64 = 0
        /// Committed indexes already recorded from this replica.
        var recordedCommit: UInt64 = 0
        /// For a leader: committed indexes already checked against its log (leader completeness).
        var completenessChecked: UInt64 = 0
        var completenessTerm: UInt64 = 0
        /// The last unwritten entry already checked for log matching.
        var unstableChecked: (index: UInt64, term: UInt64) = (0, 0)
    }

    struct Envelope {
        let message: RaftMessage
    }

    /// What a run did (for the test's summary).
    struct Statistics {
        var steps = 0
        var faults = 0
        var crashes = 0
        var partitions = 0
        var compactions = 0
        var transfers = 0
        var snapshotsSent: UInt64 = 0
        /// Terms that had a leader.
        var elections: UInt64 = 0
        var committed: UInt64 = 0
        var proposals = 0
    }

    let seed: UInt64
    let size: Int
    let targetFaults: Int
    var random: SplitMix64
    var replicas: [Replica]
    var network: [Envelope] = []
    /// Partition: replica index → side. Messages between sides are dropped on delivery.
    var side: [Int]
    var statistics = Statistics()
    var step = 0
    /// The replicas the current step changed (nil: any of them). Only they can break an invariant that
    /// held after the previous step, so only they are re-checked (with every leader when the commit
    /// index moved).
    var touched: Set<Int>? = nil
    var nextPayload: UInt64 = 1

    // Global records the invariants are checked against.
    var leaderOfTerm: [UInt64: RaftNodeID] = [:]
    /// index → term of the committed entry.
    var committedTerm: [UInt64: UInt64] = [:]
    /// index → the term of the replica that first saw it committed (the committing leader's term: the
    /// invariants run after every step, and the leader's commit index moves before anyone hears of it).
    var committedInTerm: [UInt64: UInt64] = [:]
    var highestCommitted: UInt64 = 0
    /// (index, term) → (payload hash, term of the previous entry): any two logs agreeing on one entry
    /// agree on its payload and its predecessor, hence (by induction) on the whole prefix.
    var knownEntries: [EntryKey: (payload: UInt64, previousTerm: UInt64)] = [:]
    /// index → state hash after applying it, on whichever replica applied it first.
    var stateHashAt: [UInt64: UInt64] = [0: 0]
    /// Each replica's highest persisted commit index (never decreases, across restarts).
    var persistedCommit: [UInt64]

    struct EntryKey: Hashable {
        let index: UInt64
        let term: UInt64
    }

    init(seed: UInt64, size: Int, targetFaults: Int = 100) {
        self.seed = seed
        self.size = size
        self.targetFaults = targetFaults
        random = SplitMix64(seed: seed)
        let voters = (1...size).map { RaftNodeID($0) }
        replicas = voters.map { id in
            var config = RaftConfig(id: id, voters: voters)
            config.electionTicks = 6
            config.heartbeatTicks = 2
            // Small batches in some runs: a follower then acknowledges a prefix of what a leader holds.
            config.maxEntriesPerMessage = [1, 2, 8][Int(seed / 2 % 3)]
            // Tight flow control in some runs: lost appends must not wedge a follower.
            config.maxInflightMessages = [2, 256][Int(seed / 6 % 2)]
            config.seed = seed
            var replica = Replica(config: config)
            replica.raft = Raft(config: config)
            return replica
        }
        side = Array(repeating: 0, count: size)
        persistedCommit = Array(repeating: 0, count: size)
    }

    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
    mutating func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }

    // MARK: - The run

    /// Runs random steps until `targetFaults` faults were injected, then heals everything and requires the
    /// group to converge (every replica applies the same log, including a final proposal).
    mutating func run() throws(Failure) {
        let trace = environmentValue("RAFT_SIM_TRACE") != nil
        while statistics.faults < targetFaults {
            try randomStep()
            if trace && step % 50 == 0 { print("step \(step) faults \(statistics.faults) side \(side): \(describe())") }
        }
        try converge()
        statistics.steps = step
        statistics.elections = UInt64(leaderOfTerm.count)
        for replica in replicas {
            statistics.snapshotsSent += replica.raft?.counters.snapshotsSent ?? 0
        }
        statistics.committed = highestCommitted
    }

    private mutating func randomStep() throws(Failure) {
        step += 1
        touched = []
        let roll = random.next() % 1000
        switch roll {
        case 0..<250:
            let index = pick(size)
            if replicas[index].raft == nil {
                // A replica that is down comes back after a while.
                if chance(10) { try restart(index) }
            } else {
                tick(index)
            }
        case 250..<620:
            deliverOne(reorder: chance(5))
        case 620..<860:
            try processReady(pick(size), crash: .none)
        case 860..<970:
            propose()
        case 970..<975:
            statistics.faults += 1
            if !network.isEmpty { network.remove(at: pick(network.count)) }
        case 975..<977:
            statistics.faults += 1
            if !network.isEmpty { network.append(network[pick(network.count)]) }
        case 977..<980:
            statistics.faults += 1
            partition()
        case 980..<983:
            statistics.faults += 1
            side = Array(repeating: 0, count: size)
        case 983..<988:
            statistics.faults += 1
            // Leaders crash more often than followers: the interesting histories follow a leader's loss.
            let leaders = (0..<size).filter { replicas[$0].raft?.role == .leader }
            try crash(!leaders.isEmpty && chance(60) ? leaders[pick(leaders.count)] : pick(size))
        case 988..<990:
            statistics.faults += 1
            try processReady(pick(size), crash: chance(50) ? .beforePersisting : .afterPersisting)
        case 990..<995:
            // Leaders compact more often: a follower that lags behind then needs the snapshot.
            let leaders = (0..<size).filter { replicas[$0].raft?.role == .leader }
            compact(!leaders.isEmpty && chance(70) ? leaders[pick(leaders.count)] : pick(size))
        default:
            transfer()
        }
        try checkInvariants()
    }

    private mutating func converge() throws(Failure) {
        touched = nil
        side = Array(repeating: 0, count: size)
        for index in 0..<size where replicas[index].raft == nil { try restart(index) }
        var proposed: UInt64? = nil
        var rounds = 0
        while true {
            rounds += 1
            if rounds > 2_000 {
                throw failure("no convergence after healing: \(describe())")
            }
            for index in 0..<size {
                step += 1
                tick(index)
                try checkInvariants()
            }
            var delivered = 0
            while !network.isEmpty || replicas.contains(where: { $0.raft?.hasReady == true }) {
                for index in 0..<size where replicas[index].raft?.hasReady == true {
                    step += 1
                    try processReady(index, crash: .none)
                    try checkInvariants()
                }
                while !network.isEmpty {
                    step += 1
                    deliverOne(reorder: false)
                    delivered += 1
                    try checkInvariants()
                }
                if delivered > 100_000 { throw failure("message storm while converging") }
            }
            if proposed == nil, let leader = replicas.firstIndex(where: { $0.raft?.role == .leader }) {
                proposed = try? replicas[leader].raft!.propose(payload())
            }
            if let proposed, highestCommitted >= proposed,
                replicas.allSatisfy({ $0.appliedIndex == replicas[0].appliedIndex }),
                replicas[0].appliedIndex >= proposed
            {
                break
            }
        }
        try checkLogsPairwise()
    }

    // MARK: - Actions

    private mutating func tick(_ index: Int) {
        touched?.insert(index)
        replicas[index].raft?.tick()
    }

    private mutating func deliverOne(reorder: Bool) {
        guard !network.isEmpty else { return }
        if reorder { statistics.faults += 1 }
        let position = reorder ? pick(network.count) : 0
        let envelope = network.remove(at: position)
        let from = Int(envelope.message.from - 1)
        let to = Int(envelope.message.to - 1)
        guard side[from] == side[to], replicas[to].raft != nil else { return }
        touched?.insert(to)
        replicas[to].raft!.step(envelope.message)
    }

    private mutating func payload() -> [UInt8] {
        defer { nextPayload += 1 }
        return withUnsafeBytes(of: nextPayload.littleEndian) { Array($0) }
    }

    private mutating func propose() {
        let leaders = (0..<size).filter { replicas[$0].raft?.role == .leader }
        guard !leaders.isEmpty else { return }
        let index = leaders[pick(leaders.count)]
        touched?.insert(index)
        let data = payload()
        do {
            try replicas[index].raft!.propose(data)
            statistics.proposals += 1
        } catch {
            // A transfer in progress refuses proposals; that is expected.
        }
    }

    private mutating func partition() {
        statistics.partitions += 1
        side = (0..<size).map { _ in Int(random.next() % 2) }
    }

    private mutating func transfer() {
        guard let index = replicas.firstIndex(where: { $0.raft?.role == .leader }) else { return }
        statistics.transfers += 1
        touched?.insert(index)
        let target = RaftNodeID(pick(size) + 1)
        try? replicas[index].raft!.transferLeadership(to: target)
    }

    private mutating func compact(_ index: Int) {
        guard var raft = replicas[index].raft else { return }
        let applied = replicas[index].appliedIndex
        let first = raft.snapshot.index
        guard applied > first else { return }
        let through = first + 1 + random.next() % (applied - first)
        guard let hash = stateHashAt[through] else { return }
        touched?.insert(index)
        let snapshot = raft.compact(through: through, data: encode(hash))
        replicas[index].raft = raft
        replicas[index].disk.compact(to: snapshot)
        statistics.compactions += 1
    }

    /// Loses everything not persisted (the unstable log tail, unsent messages, the state machine) and
    /// restarts from the disk, sometimes later.
    private mutating func crash(_ index: Int) throws(Failure) {
        touched?.insert(index)
        statistics.crashes += 1
        replicas[index].raft = nil
        try checkCommittedDurable()
        if chance(70) { try restart(index) }
    }

    private mutating func restart(_ index: Int) throws(Failure) {
        touched?.insert(index)
        let disk = replicas[index].disk
        replicas[index].raft = Raft(config: replicas[index].config, persisted: disk, applied: disk.snapshot.index)
        replicas[index].appliedIndex = disk.snapshot.index
        replicas[index].stateHash = disk.snapshot.index == 0 ? 0 : decode(disk.snapshot.data)
        replicas[index].lastCommit = disk.hardState.commit
        replicas[index].recordedCommit = 0
        replicas[index].completenessTerm = 0
        if stateHashAt[disk.snapshot.index] != replicas[index].stateHash {
            throw failure("replica \(index + 1) restarted from a snapshot that disagrees with the state machine")
        }
    }

    enum Crash { case none, beforePersisting, afterPersisting }

    /// Carries out a replica's `RaftReady`: send what may go out early, persist, send the rest, apply,
    /// advance; or crash in the middle.
    private mutating func processReady(_ index: Int, crash: Crash) throws(Failure) {
        guard var raft = replicas[index].raft, raft.hasReady else { return }
        touched?.insert(index)
        let ready = raft.ready()
        try checkNewEntries(ready.entries, of: index, raft: raft)
        // A leader's appends leave in parallel with its own write.
        for message in ready.messages where message.maySendBeforePersisting {
            network.append(Envelope(message: message))
        }
        if crash == .beforePersisting {
            statistics.crashes += 1
            replicas[index].raft = nil
            try checkCommittedDurable()
            try restart(index)
            return
        }
        let durableLast = replicas[index].disk.lastIndex
        replicas[index].disk.persist(ready)
        if ready.snapshot != nil || (ready.entries.first.map { $0.index <= durableLast } ?? false) {
            // The write dropped durable entries (a conflicting suffix, or a log replaced by a snapshot):
            // none of them may have been committed.
            try checkCommittedDurable()
        }
        let commit = replicas[index].disk.hardState.commit
        if commit < persistedCommit[index] {
            throw failure("replica \(index + 1) persisted commit \(commit) below \(persistedCommit[index])")
        }
        persistedCommit[index] = commit
        if crash == .afterPersisting {
            statistics.crashes += 1
            replicas[index].raft = nil
            try checkCommittedDurable()
            try restart(index)
            return
        }
        for message in ready.messages where !message.maySendBeforePersisting {
            network.append(Envelope(message: message))
        }
        if let snapshot = ready.snapshot {
            let hash = decode(snapshot.data)
            guard stateHashAt[snapshot.index] == hash else {
                throw failure("replica \(index + 1) installs a snapshot at \(snapshot.index) with a foreign state")
            }
            replicas[index].stateHash = hash
            replicas[index].appliedIndex = snapshot.index
        }
        for entry in ready.committedEntries {
            guard entry.index == replicas[index].appliedIndex + 1 else {
                throw failure("replica \(index + 1) applies \(entry.index) after \(replicas[index].appliedIndex)")
            }
            let hash = chain(replicas[index].stateHash, entry)
            if let known = stateHashAt[entry.index], known != hash {
                throw failure("state machine safety: replica \(index + 1) applied a different entry at \(entry.index)")
            }
            stateHashAt[entry.index] = hash
            replicas[index].stateHash = hash
            replicas[index].appliedIndex = entry.index
        }
        raft.advance(ready)
        replicas[index].raft = raft
    }

    // MARK: - Invariants

    private mutating func checkInvariants() throws(Failure) {
        let committedBefore = highestCommitted
        for index in 0..<size where touched?.contains(index) ?? true {
            guard let raft = replicas[index].raft else { continue }
            // Log matching on the entries not yet written (the written ones were checked when written),
            // from the last one already checked if it is still there.
            if raft.log.lastIndex > raft.log.stableIndex {
                let checked = replicas[index].unstableChecked
                var from = raft.log.stableIndex + 1
                if checked.index >= from && raft.term(at: checked.index) == checked.term { from = checked.index + 1 }
                if from <= raft.lastIndex {
                    try checkNewEntries(
                        raft.log.entries(from: from, to: raft.lastIndex + 1) ?? [], of: index, raft: raft)
                    replicas[index].unstableChecked = (raft.lastIndex, raft.lastTerm)
                }
            }
            // Election safety: at most one leader per term.
            if raft.role == .leader {
                if let other = leaderOfTerm[raft.term], other != raft.id {
                    throw failure("two leaders in term \(raft.term): \(other) and \(raft.id)")
                }
                leaderOfTerm[raft.term] = raft.id
            }
            // The commit index never decreases.
            if raft.commitIndex < replicas[index].lastCommit {
                throw failure(
                    "replica \(raft.id) commit went from \(replicas[index].lastCommit) to \(raft.commitIndex)")
            }
            replicas[index].lastCommit = raft.commitIndex
            // Record what this replica knows committed; two replicas never disagree on it.
            var next = max(replicas[index].recordedCommit, raft.snapshot.index) + 1
            while next <= raft.commitIndex {
                guard let term = raft.term(at: next) else { throw failure("committed \(next) absent on \(raft.id)") }
                if let known = committedTerm[next] {
                    if known != term {
                        throw failure("index \(next) committed with term \(known) and \(term) (replica \(raft.id))")
                    }
                } else {
                    committedTerm[next] = term
                    committedInTerm[next] = raft.term
                    highestCommitted = max(highestCommitted, next)
                    try checkDurable(next, term: term)
                }
                next += 1
            }
            replicas[index].recordedCommit = raft.commitIndex
        }
        // Leader completeness: a leader holds every entry committed in an earlier term (a stale leader
        // of an earlier term may not).
        for index in 0..<size where highestCommitted != committedBefore || (touched?.contains(index) ?? true) {
            guard let raft = replicas[index].raft, raft.role == .leader else { continue }
            if replicas[index].completenessTerm != raft.term {
                replicas[index].completenessTerm = raft.term
                replicas[index].completenessChecked = 0
            }
            var next = max(replicas[index].completenessChecked, raft.snapshot.index) + 1
            while next <= highestCommitted {
                guard let expected = committedTerm[next], let inTerm = committedInTerm[next] else { break }
                if inTerm < raft.term && raft.term(at: next) != expected {
                    throw failure(
                        "leader completeness: leader \(raft.id) of term \(raft.term) lacks committed \(next)/\(expected)"
                    )
                }
                next += 1
            }
            replicas[index].completenessChecked = next - 1
        }
    }

    /// A committed entry is durable on a quorum (in the persisted log or under the persisted snapshot).
    private func checkDurable(_ index: UInt64, term: UInt64) throws(Failure) {
        var holders = 0
        for replica in replicas {
            let disk = replica.disk
            if disk.snapshot.index >= index || disk.term(at: index) == term { holders += 1 }
        }
        if holders < size / 2 + 1 {
            throw failure("committed \(index)/\(term) durable on only \(holders) of \(size) replicas")
        }
    }

    private func checkCommittedDurable() throws(Failure) {
        var index: UInt64 = 1
        while index <= highestCommitted {
            if let term = committedTerm[index] { try checkDurable(index, term: term) }
            index += 1
        }
    }

    /// Log matching, checked on every write: an (index, term) pair always names the same payload and the
    /// same predecessor term.
    private mutating func checkNewEntries(_ entries: [RaftEntry], of index: Int, raft: Raft) throws(Failure) {
        for entry in entries {
            let previousTerm = raft.term(at: entry.index - 1) ?? 0
            let key = EntryKey(index: entry.index, term: entry.term)
            let payload = hashBytes(entry.data)
            if let known = knownEntries[key] {
                if known.payload != payload
                    || (raft.term(at: entry.index - 1) != nil && known.previousTerm != previousTerm)
                {
                    throw failure("log matching: replica \(raft.id) has a different entry \(entry.index)/\(entry.term)")
                }
            } else {
                knownEntries[key] = (payload, previousTerm)
            }
        }
    }

    /// Every pair of logs agrees on every index where both hold the same term, and on all indexes before.
    private func checkLogsPairwise() throws(Failure) {
        let logs = replicas.compactMap(\.raft)
        for a in logs {
            for b in logs where a.id < b.id {
                let low = max(a.snapshot.index, b.snapshot.index) + 1
                var index = min(a.lastIndex, b.lastIndex)
                var matched = false
                while index >= low {
                    let (ea, eb) = (a.entry(at: index)!, b.entry(at: index)!)
                    if matched && ea != eb {
                        throw failure("log matching: \(a.id) and \(b.id) differ at \(index) below a matching entry")
                    }
                    if ea.term == eb.term {
                        if ea.data != eb.data { throw failure("\(a.id) and \(b.id) differ at \(index)") }
                        matched = true
                    }
                    index -= 1
                }
            }
        }
    }

    // MARK: - Helpers

    private func failure(_ reason: String) -> Failure { Failure(seed: seed, step: step, reason: reason) }

    private func describe() -> String {
        replicas.map { r in
            guard let raft = r.raft else { return "down" }
            return
                "\(raft.id): \(raft.role) t\(raft.term) last \(raft.lastIndex) commit \(raft.commitIndex) applied \(r.appliedIndex)"
        }.joined(separator: "; ")
    }

    private func chain(_ hash: UInt64, _ entry: RaftEntry) -> UInt64 {
        var mixer = SplitMix64(seed: hash ^ (entry.index &* 0x9E37_79B9_7F4A_7C15) ^ hashBytes(entry.data))
        return mixer.next()
    }

    private func hashBytes(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return hash
    }

    private func encode(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    private func decode(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
