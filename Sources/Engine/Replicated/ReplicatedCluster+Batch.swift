import Distributed
import Runtime
import Storage
import Synchronization

/// Batch commit across regions (DESIGN.md, "Optimisations"): a coordinator groups the transfers
/// with the same participant set that arrive within the batch window (up to the batch size) into
/// one round: one request and one prepare entry per participant, one decision entry, one phase-two
/// request and entry per participant. Every member keeps its own timestamp, local transactions,
/// transaction record and outcome.
final class TwoPhaseBatcher: Sendable {
    typealias Outcome = (outcome: ReplicatedCluster.AttemptOutcome, trace: Trace)
    typealias Runner = @Sendable ([TransferRequest]) async -> [Outcome]

    private struct Open {
        var id: UInt64
        var members: [(request: TransferRequest, continuation: CheckedContinuation<Outcome, Never>)]
    }

    private let open = Mutex<[String: Open]>([:])
    private let nextID = Atomic<UInt64>(0)
    let window: Duration
    let maxSize: Int
    private let clock: any EngineClock
    /// Batches run and members in them (for the counters).
    let batches = Atomic<Int>(0)
    let members = Atomic<Int>(0)

    init(window: Duration, maxSize: Int, clock: any EngineClock) {
        self.window = window
        self.maxSize = max(1, maxSize)
        self.clock = clock
    }

    /// Adds `request` to the open batch of `key` (opening one, closed by its window or by reaching
    /// the batch size) and returns its member's outcome once `run` has run the batch.
    func submit(_ request: TransferRequest, key: String, run: @escaping Runner) async -> Outcome {
        await withCheckedContinuation { continuation in
            let (full, opened) = open.withLock {
                batches -> ([(TransferRequest, CheckedContinuation<Outcome, Never>)]?, UInt64?) in
                var batch = batches[key] ?? Open(id: nextID.add(1, ordering: .relaxed).newValue, members: [])
                let isNew = batch.members.isEmpty
                batch.members.append((request, continuation))
                if batch.members.count >= maxSize {
                    batches[key] = nil
                    return (batch.members.map { ($0.request, $0.continuation) }, nil)
                }
                batches[key] = batch
                return (nil, isNew ? batch.id : nil)
            }
            if let full {
                Task { await self.execute(full, run: run) }
            } else if let opened {
                Task {
                    try? await self.clock.sleep(for: self.window)
                    let due = self.open.withLock {
                        batches -> [(TransferRequest, CheckedContinuation<Outcome, Never>)]? in
                        guard let batch = batches[key], batch.id == opened else { return nil }
                        batches[key] = nil
                        return batch.members.map { ($0.request, $0.continuation) }
                    }
                    if let due { await self.execute(due, run: run) }
                }
            }
        }
    }

    /// Runs a closed batch as rounds of members that share no account (a member touching an
    /// account an earlier member holds would wait for a lock only that round's own decision
    /// releases): the first round takes every member it can, the next the rest, and so on.
    private func execute(
        _ batch: [(TransferRequest, CheckedContinuation<Outcome, Never>)], run: Runner
    ) async {
        var remaining = batch
        while !remaining.isEmpty {
            var held = Set<AccountID>()
            var round: [(TransferRequest, CheckedContinuation<Outcome, Never>)] = []
            var rest: [(TransferRequest, CheckedContinuation<Outcome, Never>)] = []
            for member in remaining {
                let accounts = member.0.legs.map(\.account)
                if accounts.contains(where: held.contains) {
                    rest.append(member)
                } else {
                    held.formUnion(accounts)
                    round.append(member)
                }
            }
            batches.add(1, ordering: .relaxed)
            members.add(round.count, ordering: .relaxed)
            let outcomes = await run(round.map(\.0))
            for (member, outcome) in zip(round, outcomes) { member.1.resume(returning: outcome) }
            remaining = rest
        }
    }
}

/// One proposal for several transactions' prepares at a participant's leader: each member hands
/// its write set (or withdraws, having failed before preparing); once every member has, one batch
/// entry carries them all and every member gets the same receipt.
final class GroupPrepare: Sendable {
    private struct State {
        var expected: Int
        var entries: [(xid: TransactionID, global: GlobalTransaction, writes: [ReplicatedWrite])] = []
        var waiting: [CheckedContinuation<Result<ReplicationReceipt, TransactionError>, Never>] = []
    }

    private let state: Mutex<State>
    private let log: ReplicaLog

    init(expected: Int, log: ReplicaLog) {
        state = Mutex(State(expected: expected))
        self.log = log
    }

    /// A member prepares `writes` as `xid`: returns once the group's entry is acknowledged.
    func prepare(_ xid: TransactionID, global: GlobalTransaction, writes: [ReplicatedWrite])
        async throws(TransactionError) -> ReplicationReceipt
    {
        let result = await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Bool in
                s.entries.append((xid, global, writes))
                s.waiting.append(continuation)
                return s.entries.count >= s.expected
            }
            if ready { Task { await self.propose() } }
        }
        return try result.get()
    }

    /// A member failed before preparing: the group no longer waits for it.
    func withdraw() {
        let ready = state.withLock { s -> Bool in
            s.expected -= 1
            return !s.entries.isEmpty && s.entries.count >= s.expected
        }
        if ready { Task { await self.propose() } }
    }

    private func propose() async {
        let (entries, waiting) = state.withLock { s in
            defer {
                s.entries = []
                s.waiting = []
            }
            return (s.entries, s.waiting)
        }
        guard !entries.isEmpty else { return }
        let result: Result<ReplicationReceipt, TransactionError>
        do {
            result = .success(try await log.replicatePrepares(entries))
        } catch {
            result = .failure(error)
        }
        for continuation in waiting { continuation.resume(returning: result) }
    }
}

extension ReplicaLog {
    /// Replicates several participants' prepares as one entry.
    func replicatePrepares(_ entries: [(xid: TransactionID, global: GlobalTransaction, writes: [ReplicatedWrite])])
        async throws(TransactionError) -> ReplicationReceipt
    {
        let start = clock.nowNanos()
        for entry in entries { machine.willPropose(entry.xid) }
        let receipt: RaftProposalReceipt
        do {
            receipt = try await node.proposeWithReceipt(
                ReplicaCommand.batch(entries.map { .prepare(xid: $0.xid, global: $0.global, writes: $0.writes) })
                    .encoded())
        } catch {
            for entry in entries { machine.proposalFailed(entry.xid) }
            throw TransactionError(.adminShutdown, "the region's log did not commit the prepares: \(error)")
        }
        if replication == .async {
            for entry in entries {
                do { try machine.prepareAhead(entry.xid, global: entry.global, index: receipt.index) } catch {
                    throw TransactionError(.adminShutdown, "the replica could not prepare in storage: \(error)")
                }
            }
        }
        let total = clock.nowNanos() &- start
        let log = receipt.persistedAtNanos.map { $0 > start ? min($0 - start, total) : 0 } ?? 0
        return ReplicationReceipt(logNanos: log, replicationNanos: total - log)
    }
}

extension ReplicatedCluster {
    /// One batched round of two-phase commit for `requests` (same coordinator, same participants).
    func runBatch(_ requests: [TransferRequest], at coordinator: Int, placement: AccountPlacement) async
        -> [TwoPhaseBatcher.Outcome]
    {
        var trace = Trace()
        let asked = clock.nowNanos()
        guard let leader = try? await self.leader(of: regions[coordinator]) else {
            trace.add(.redirect, clock.nowNanos() &- asked)
            return requests.map { _ in (.failed(sqlState: TransactionError.Code.adminShutdown.rawValue), trace) }
        }
        trace.add(.redirect, clock.nowNanos() &- asked)
        let stamped = clock.nowNanos()
        var timestamps: [TransactionID] = []
        for request in requests {
            if request.causalTimestamp > 0 {
                _ = try? leader.hlc.update(HybridTimestamp(rawValue: request.causalTimestamp))
            }
            guard let timestamp = await transactionTimestamp(region: coordinator, leader: leader) else {
                trace.add(.timestamp, clock.nowNanos() &- stamped)
                return requests.map { _ in (.failed(sqlState: TransactionError.Code.adminShutdown.rawValue), trace) }
            }
            timestamps.append(timestamp)
        }
        trace.add(.timestamp, clock.nowNanos() &- stamped)
        let globals = timestamps.map { GlobalTransaction(id: $0, coordinator: coordinator) }

        // Phase one: one request per participant carrying every member's part.
        var regionsTouched: [Int] = []
        for request in requests {
            for leg in request.legs where !regionsTouched.contains(placement.region(of: leg.account)) {
                regionsTouched.append(placement.region(of: leg.account))
            }
        }
        regionsTouched.sort()
        let network = twoPhaseNetwork
        let replies = await withTaskGroup(of: (Int, [ParticipantVote]?, UInt64).self) { group in
            for region in regionsTouched {
                let works = requests.enumerated().map { index, request in
                    let legs = request.legs.filter { placement.region(of: $0.account) == region }
                    let debit = request.legs.first(where: \.isDebit).map { placement.region(of: $0.account) }
                    return ParticipantWork(
                        global: globals[index], timestamp: timestamps[index], legs: TransferLegs(legs),
                        ledger: debit == region ? (request.id, request.amount) : nil, allLegs: request.legs)
                }
                group.addTask { [clock] in
                    let sent = clock.nowNanos()
                    let reply = await network.call(from: coordinator, to: region, .executeBatch(works))
                    guard case .votedBatch(let votes) = reply, votes.count == works.count else {
                        return (region, nil, clock.nowNanos() &- sent)
                    }
                    return (region, votes, clock.nowNanos() &- sent)
                }
            }
            var all: [(Int, [ParticipantVote]?, UInt64)] = []
            for await reply in group { all.append(reply) }
            return all
        }
        var traces = requests.map { _ in trace }
        if let slowest = replies.max(by: { $0.2 < $1.2 }) {
            for index in requests.indices {
                let vote = slowest.1?[index]
                traces[index].add(vote?.trace ?? Trace())
                let processing = vote?.processingNanos ?? 0
                traces[index].add(.coordination, slowest.2 > processing ? slowest.2 - processing : 0)
            }
        }
        var outcomes: [ReplicatedCluster.AttemptOutcome?] = requests.map { _ in nil }
        var prepared: [[TransactionRecord.Participant]] = requests.map { _ in [] }
        for (region, votes, _) in replies {
            for index in requests.indices {
                guard let vote = votes?[index] else {
                    if outcomes[index] == nil {
                        outcomes[index] = .failed(sqlState: TransactionError.Code.adminShutdown.rawValue)
                    }
                    continue
                }
                if vote.timestampRejected { regions[region].twoPhase.rejections.add(1, ordering: .relaxed) }
                switch vote.outcome {
                case .prepared(let xid): prepared[index].append(TransactionRecord.Participant(region: region, xid: xid))
                case .rejected: outcomes[index] = .rejected
                case .failed(let sqlState): if outcomes[index] == nil { outcomes[index] = .failed(sqlState: sqlState) }
                }
            }
        }
        // The decision: one entry holding every committing member's record.
        var records: [Int: TransactionRecord] = [:]
        for index in requests.indices where outcomes[index] == nil {
            let participants = prepared[index].sorted { $0.region < $1.region }
            let commitTimestamp = participants.map(\.xid).max() ?? timestamps[index]
            if commitTimestamp != timestamps[index] { regions[coordinator].twoPhase.pushes.add(1, ordering: .relaxed) }
            records[index] = TransactionRecord(
                commit: true, commitTimestamp: commitTimestamp, participants: participants)
        }
        let deciding = clock.nowNanos()
        var decided: [Int: TransactionRecord] = [:]
        if !records.isEmpty {
            let entry = ReplicaCommand.batch(records.map { .decide(id: globals[$0.key].id, record: $0.value) })
            if (try? await leader.node.proposeWithReceipt(entry.encoded())) != nil {
                for (index, record) in records {
                    decided[index] =
                        configuration.replication == .async
                        ? (leader.machine.record(of: globals[index].id) ?? record)
                        : leader.machine.record(of: globals[index].id)
                }
            }
        }
        let decision = clock.nowNanos() &- deciding
        var finishes: [Int: [(xid: TransactionID, commit: Bool, commitTimestamp: TransactionID)]] = [:]
        for index in requests.indices {
            if outcomes[index] == nil {
                traces[index].add(.decision, decision)
                guard let record = decided[index] else {
                    outcomes[index] = .failed(sqlState: Self.outcomeUnknownSQLState)
                    continue
                }
                outcomes[index] =
                    record.commit
                    ? .committed(record.commitTimestamp)
                    : .failed(sqlState: TransactionError.Code.serializationFailure.rawValue)
                for participant in prepared[index] {
                    finishes[participant.region, default: []].append(
                        (participant.xid, record.commit, record.commitTimestamp))
                }
                if record.commit {
                    regions[coordinator].twoPhase.commits.add(1, ordering: .relaxed)
                } else {
                    regions[coordinator].twoPhase.aborts.add(1, ordering: .relaxed)
                }
            } else {
                regions[coordinator].twoPhase.aborts.add(1, ordering: .relaxed)
                for participant in prepared[index] {
                    finishes[participant.region, default: []].append((participant.xid, false, 0))
                }
            }
        }
        // Phase two after the acknowledgement: one request (one entry) per participant.
        if !finishes.isEmpty {
            Task {
                await withTaskGroup(of: Void.self) { group in
                    for (region, list) in finishes {
                        group.addTask {
                            for _ in 0..<Self.maxRedirects {
                                let reply = await network.call(from: coordinator, to: region, .finishBatch(list))
                                if case .finished = reply { return }
                            }
                        }
                    }
                }
            }
        }
        return requests.indices.map { (outcomes[$0] ?? .failed(sqlState: Self.outcomeUnknownSQLState), traces[$0]) }
    }

    /// Phase one of a batch at this region's leader: every member's part in its own local
    /// transaction, one after another (a member touching an account an earlier member of the batch
    /// holds is refused with 40001 at once, to retry outside this batch, instead of waiting for a
    /// lock only the batch's own decision releases), then one prepare entry for all.
    func serveBatch(region index: Int, _ works: [ParticipantWork]) async -> RegionReply {
        let started = clock.nowNanos()
        guard let leader = try? await self.leader(of: regions[index]) else {
            return .unavailable("region \(regions[index].name) has no leader")
        }
        var held = Set<AccountID>()
        var admitted: [Int] = []
        var votes = works.map { _ in
            ParticipantVote(
                outcome: .failed(sqlState: TransactionError.Code.serializationFailure.rawValue), trace: Trace(),
                processingNanos: 0)
        }
        for (position, work) in works.enumerated() {
            let accounts = work.legs.map(\.account)
            if accounts.contains(where: held.contains) { continue }
            held.formUnion(accounts)
            admitted.append(position)
        }
        // One session for the whole batch (one client connection, as a batch is one round).
        let asked = clock.nowNanos()
        let lease: SessionPool<EmbeddedSessionFactory>.Lease
        do { lease = try await leader.executor.pool.acquire() } catch {
            let code = (error as? TransactionError)?.sqlState ?? TransactionError.Code.internalError.rawValue
            return .votedBatch(
                works.map { _ in ParticipantVote(outcome: .failed(sqlState: code), trace: Trace(), processingNanos: 0) }
            )
        }
        defer { leader.executor.pool.release(lease) }
        var waited = Trace()
        waited.add(.poolWait, clock.nowNanos() &- asked)
        let session = lease.session.accountPayload
        let group = GroupPrepare(expected: admitted.count, log: leader.log)
        let configuration = configuration
        let results = await withTaskGroup(of: (Int, ParticipantVote).self) { tasks in
            for position in admitted {
                let work = works[position]
                tasks.addTask { [waited] in
                    (
                        position,
                        await leader.participate(
                            work, configuration: configuration, trace: waited, group: group, session: session)
                    )
                }
            }
            var all: [(Int, ParticipantVote)] = []
            for await result in tasks { all.append(result) }
            return all
        }
        let processing = clock.nowNanos() &- started
        for (position, vote) in results {
            votes[position] = vote
            if case .prepared(let xid) = vote.outcome, xid != works[position].timestamp {
                regions[index].twoPhase.participantPushes.add(1, ordering: .relaxed)
            }
        }
        for position in votes.indices { votes[position].processingNanos = processing }
        return .votedBatch(votes)
    }

    /// Phase two of a batch at this region's leader: one entry.
    func serveFinishBatch(
        region index: Int, _ list: [(xid: TransactionID, commit: Bool, commitTimestamp: TransactionID)]
    )
        async -> RegionReply
    {
        guard let leader = try? await self.leader(of: regions[index]) else {
            return .unavailable("region \(regions[index].name) has no leader")
        }
        let entry = ReplicaCommand.batch(
            list.map {
                $0.commit
                    ? .commitPrepared(xid: $0.xid, commitTimestamp: $0.commitTimestamp) : .abortPrepared(xid: $0.xid)
            })
        guard (try? await leader.node.proposeWithReceipt(entry.encoded())) != nil else {
            return .unavailable("the phase-two entry did not commit")
        }
        return .finished
    }
}
