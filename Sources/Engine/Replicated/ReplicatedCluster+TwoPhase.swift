import Distributed
import Runtime
import Storage
import Synchronization

/// The steps of a transaction across regions at which a test (or the fault schedule) can crash
/// its coordinator.
package enum TwoPhaseStep: String, Sendable, CaseIterable {
    /// Every participant prepared; no decision yet.
    case afterPrepare
    /// The decision is durable; phase two not started.
    case afterDecision
    /// Phase two reached the first participant only.
    case duringPhaseTwo
}

/// Two-phase commit across regions (DESIGN.md, "Commit paths"). The coordinator (the leader of the
/// client's region with locality on, of the home region with it off) takes a timestamp, asks every
/// participant's leader to execute its legs and prepare through its region's log, makes its
/// decision durable as a transaction record in its own region's log, acknowledges, then sends
/// phase two. A participant that already issued a higher id than the timestamp executes under
/// its own higher id (a push); the commit timestamp is the largest participant id, stamped on
/// every participant's versions at commit, so L2 timestamp = L1 xid = L0 xmin everywhere.
extension ReplicatedCluster {
    // MARK: - Routing

    /// Executes a transfer: a single-region one at its leader in one phase (locality on), anything
    /// else through a coordinator.
    func route(_ request: TransferRequest, placement: AccountPlacement, start: UInt64) async -> TransferResult {
        var touched: [Int] = []
        for leg in request.legs {
            let region = placement.region(of: leg.account)
            if !touched.contains(region) { touched.append(region) }
        }
        let client = min(max(request.clientRegion, 0), regions.count - 1)
        if configuration.locality && touched.count == 1 {
            return await onePhase(request, in: regions[touched[0]], start: start)
        }
        let coordinator = configuration.locality ? client : Self.homeRegion
        guard coordinator != client else {
            return await coordinate(request, at: coordinator, placement: placement, start: start)
        }
        // The client's gateway forwards to the global coordinator and waits for its answer: the
        // round trip beyond the coordinator's own time is the gateway hop.
        let reply = await twoPhaseNetwork.call(from: client, to: coordinator, .transfer(request))
        let elapsed = clock.nowNanos() &- start
        guard case .transferred(let remote) = reply else {
            return TransferResult(
                .failed(sqlState: TransactionError.Code.adminShutdown.rawValue), endToEndNanos: elapsed,
                l2Nanos: elapsed,
                xid: 0)
        }
        let hop = elapsed > remote.endToEndNanos ? elapsed - remote.endToEndNanos : 0
        var result = TransferResult(
            remote.outcome, retried: remote.retriedErrors, endToEndNanos: elapsed, l2Nanos: remote.l2Nanos &+ hop,
            l1Nanos: remote.l1Nanos, l0Nanos: remote.l0Nanos, xid: remote.xid)
        result.l2Breakdown = remote.l2Breakdown
        result.l2Breakdown.gateway &+= hop
        // A clock step can make the sum exceed the elapsed time; the result then grew its
        // end-to-end time and the breakdown must still add up to L2.
        if result.l2Breakdown.total != result.l2Nanos {
            result.l2Breakdown.gateway &+= result.l2Nanos &- result.l2Breakdown.total
        }
        return result
    }

    /// The home region: the timestamp oracle and the global coordinator live there.
    static let homeRegion = 0

    // MARK: - Coordinator

    /// Runs `request` as a two-phase commit coordinated from region `coordinator`, retrying
    /// retryable failures (40001, 40P01) per the runtime's retry policy.
    func coordinate(
        _ request: TransferRequest, at coordinator: Int, placement: AccountPlacement, start: UInt64
    ) async -> TransferResult {
        let policy = configuration.runtime.retry
        var random = SplitMix64(seed: request.id ^ 0x2F0_C0DE)
        var trace = Trace()
        var retried: [String] = []
        var attempt = 0
        while true {
            attempt += 1
            let outcome: AttemptOutcome
            if let batcher = twoPhaseBatcher {
                // Batch commit: wait for the batch of this participant set (L1 `batchWait`), then
                // take the batch's spans.
                let key = "\(coordinator):" + Self.participantKey(request, placement: placement)
                let waited = clock.nowNanos()
                let member = await batcher.submit(request, key: key) { [self] requests in
                    await runBatch(requests, at: coordinator, placement: placement)
                }
                let spans = member.trace.nanos.reduce(UInt64(0), &+)
                let elapsed = clock.nowNanos() &- waited
                trace.add(.batchWait, elapsed > spans ? elapsed - spans : 0)
                trace.add(member.trace)
                outcome = member.outcome
            } else {
                outcome = await attemptTwoPhase(request, at: coordinator, placement: placement, trace: &trace)
            }
            switch outcome {
            case .committed(let xid):
                return TransferResult(
                    .committed, retried: retried, trace: trace, endToEnd: clock.nowNanos() &- start, xid: xid)
            case .rejected:
                return TransferResult(
                    .rejected, retried: retried, trace: trace, endToEnd: clock.nowNanos() &- start, xid: 0)
            case .failed(let sqlState):
                // A leader that changed under a participant's prepare (57P01) is a redirect: the
                // attempt is aborted and retried, like a serialization failure.
                // A batch member that found a row locked (NOWAIT, 55P03) waits its turn by retrying:
                // that is its lock wait, bounded by the total retry time, not by the attempts.
                let lockTurn = twoPhaseBatcher != nil && sqlState == TransactionError.Code.lockNotAvailable.rawValue
                let retryable =
                    TransactionError.Code(rawValue: sqlState)?.isRetryable ?? false
                    || sqlState == TransactionError.Code.adminShutdown.rawValue || lockTurn
                if lockTurn { attempt -= 1 }
                let elapsed = clock.nowNanos() &- start
                guard retryable, attempt < policy.maxAttempts, elapsed < policy.maxTotal.clampedNanoseconds else {
                    if retryable { regions[coordinator].twoPhase.retriesExhausted.add(1, ordering: .relaxed) }
                    return TransferResult(
                        .failed(sqlState: sqlState), retried: retried, trace: trace, endToEnd: elapsed, xid: 0)
                }
                retried.append(sqlState)
                let backoff = policy.backoff(beforeRetry: max(attempt, 1), using: &random)
                let slept = clock.nowNanos()
                try? await clock.sleep(for: backoff)
                trace.add(.retryBackoff, clock.nowNanos() &- slept)
            }
        }
    }

    enum AttemptOutcome: Sendable {
        case committed(TransactionID)
        case rejected
        case failed(sqlState: String)
    }

    /// One attempt: timestamp, phase one at every participant, the durable decision, then phase two
    /// in the background.
    private func attemptTwoPhase(
        _ request: TransferRequest, at coordinator: Int, placement: AccountPlacement, trace: inout Trace
    ) async -> AttemptOutcome {
        let asked = clock.nowNanos()
        let leader: ReplicaIncarnation
        do { leader = try await self.leader(of: regions[coordinator]) } catch {
            trace.add(.redirect, clock.nowNanos() &- asked)
            return .failed(sqlState: TransactionError.Code.adminShutdown.rawValue)
        }
        trace.add(.redirect, clock.nowNanos() &- asked)
        let stamped = clock.nowNanos()
        if request.causalTimestamp > 0 {
            _ = try? leader.hlc.update(HybridTimestamp(rawValue: request.causalTimestamp))
        }
        let issued = await transactionTimestamp(region: coordinator, leader: leader)
        trace.add(.timestamp, clock.nowNanos() &- stamped)
        guard let timestamp = issued else { return .failed(sqlState: TransactionError.Code.adminShutdown.rawValue) }
        let global = GlobalTransaction(id: timestamp, coordinator: coordinator)

        // Phase one: every participant executes its legs and prepares, in parallel; the slowest
        // leg's spans are the critical path.
        var parts: [(region: Int, legs: [TransferLeg])] = []
        for leg in request.legs {
            let region = placement.region(of: leg.account)
            if let index = parts.firstIndex(where: { $0.region == region }) {
                parts[index].legs.append(leg)
            } else {
                parts.append((region, [leg]))
            }
        }
        let debitRegion =
            request.legs.first(where: \.isDebit).map { placement.region(of: $0.account) } ?? parts[0].region
        let network = twoPhaseNetwork
        let votes = await withTaskGroup(of: (Int, ParticipantVote, UInt64).self) { group in
            for part in parts {
                let work = ParticipantWork(
                    global: global, timestamp: timestamp, legs: TransferLegs(part.legs),
                    ledger: part.region == debitRegion ? (request.id, request.amount) : nil, allLegs: request.legs)
                group.addTask { [clock] in
                    let sent = clock.nowNanos()
                    let reply = await network.call(from: coordinator, to: part.region, .execute(work))
                    let elapsed = clock.nowNanos() &- sent
                    switch reply {
                    case .voted(let vote): return (part.region, vote, elapsed)
                    case .unavailable, .transferred, .finished, .record, .timestamps, .votedBatch:
                        return (
                            part.region,
                            ParticipantVote(
                                outcome: .failed(sqlState: TransactionError.Code.adminShutdown.rawValue),
                                trace: Trace(), processingNanos: 0),
                            elapsed
                        )
                    }
                }
            }
            var votes: [(Int, ParticipantVote, UInt64)] = []
            for await vote in group { votes.append(vote) }
            return votes
        }
        if let slowest = votes.max(by: { $0.2 < $1.2 }) {
            trace.add(slowest.1.trace)
            trace.add(.coordination, slowest.2 > slowest.1.processingNanos ? slowest.2 - slowest.1.processingNanos : 0)
        }
        var prepared: [TransactionRecord.Participant] = []
        var failure: AttemptOutcome?
        for (region, vote, _) in votes {
            switch vote.outcome {
            case .prepared(let xid): prepared.append(TransactionRecord.Participant(region: region, xid: xid))
            case .rejected: failure = .rejected
            case .failed(let sqlState): if failure == nil { failure = .failed(sqlState: sqlState) }
            }
            if vote.timestampRejected { regions[region].twoPhase.rejections.add(1, ordering: .relaxed) }
        }
        if let failure {
            // Presumed abort: no record is needed; the prepared participants are told to abort (and
            // would find no record if they asked).
            regions[coordinator].twoPhase.aborts.add(1, ordering: .relaxed)
            let toAbort = prepared
            Task { await self.phaseTwo(toAbort, commit: false, commitTimestamp: 0, from: coordinator) }
            return failure
        }
        prepared.sort { $0.region < $1.region }
        let commitTimestamp = prepared.map(\.xid).max() ?? timestamp
        if commitTimestamp != timestamp { regions[coordinator].twoPhase.pushes.add(1, ordering: .relaxed) }
        if hook(.afterPrepare, global) { return .failed(sqlState: Self.outcomeUnknownSQLState) }

        // The decision, durable in the coordinator region's log before the acknowledgement.
        let deciding = clock.nowNanos()
        let record = TransactionRecord(commit: true, commitTimestamp: commitTimestamp, participants: prepared)
        let decided = await decide(global.id, record, at: leader)
        trace.add(.decision, clock.nowNanos() &- deciding)
        guard let decided else {
            // The decision's fate is unknown (the leader lost its leadership under it): the
            // participants stay prepared until their in-doubt check reads the record.
            return .failed(sqlState: Self.outcomeUnknownSQLState)
        }
        // A coordinator that crashes now never answers its client; the participants' in-doubt
        // checks finish the transaction from its record.
        if hook(.afterDecision, global) { return .failed(sqlState: Self.outcomeUnknownSQLState) }
        let crashDuringPhaseTwo = hook(.duringPhaseTwo, global)
        let final = decided
        Task {
            await self.phaseTwo(
                final.commit ? final.participants : prepared, commit: final.commit,
                commitTimestamp: final.commitTimestamp, from: coordinator, crashAfterFirst: crashDuringPhaseTwo)
        }
        guard decided.commit else {
            // An in-doubt check aborted the transaction first (its participants waited too long).
            regions[coordinator].twoPhase.aborts.add(1, ordering: .relaxed)
            return .failed(sqlState: TransactionError.Code.serializationFailure.rawValue)
        }
        regions[coordinator].twoPhase.commits.add(1, ordering: .relaxed)
        return .committed(commitTimestamp)
    }

    /// The sorted regions a transfer touches, as a batch key.
    static func participantKey(_ request: TransferRequest, placement: AccountPlacement) -> String {
        Set(request.legs.map { placement.region(of: $0.account) }).sorted().map(String.init).joined(separator: ",")
    }

    /// SQLSTATE 40003, statement completion unknown: the coordinator failed after the
    /// participants prepared; the transfer may or may not commit.
    static let outcomeUnknownSQLState = "40003"

    /// A coordinator timestamp: the coordinator leader's HLC reading, tagged as this region's
    /// coordinator's and strictly above every one it issued before.
    func coordinatorTimestamp(region: Region, hlc: HybridLogicalClock) -> TransactionID {
        let tag = TimestampTags.coordinator(region.index)
        while true {
            let last = region.lastCoordinatorTimestamp.load(ordering: .relaxed)
            let next = TimestampTags.atLeast(max(hlc.now().rawValue, last &+ 1), tag: tag)
            if region.lastCoordinatorTimestamp.compareExchange(expected: last, desired: next, ordering: .relaxed)
                .exchanged
            {
                return next
            }
        }
    }

    /// Writes `record` for global transaction `id` through the coordinator region's log and returns
    /// the record that won (the first decision applied: an in-doubt check's abort may have come
    /// first). Nil when the outcome is unknown. Under async replication the coordinator's own
    /// record is taken as written once its leader's log has it.
    ///
    /// A leader change under the proposal leaves its fate unknown: the record is looked for at the
    /// region's next serving leader (which has applied everything committed before it serves) and
    /// proposed again there if it is missing. The first decision applied wins, so proposing the same
    /// decision twice is harmless.
    func decide(_ id: UInt64, _ record: TransactionRecord, at first: ReplicaIncarnation) async -> TransactionRecord? {
        var leader = first
        for _ in 0...Self.maxRedirects {
            do {
                _ = try await leader.node.proposeWithReceipt(ReplicaCommand.decide(id: id, record: record).encoded())
                if configuration.replication == .async { return leader.machine.record(of: id) ?? record }
                if let decided = leader.machine.record(of: id) { return decided }
            } catch {
                if let decided = leader.machine.record(of: id) { return decided }
            }
            guard let next = try? await self.leader(of: regions[leader.region]) else { return nil }
            if let decided = next.machine.record(of: id) { return decided }
            leader = next
        }
        return nil
    }

    /// Phase two: tells every participant to commit at `commitTimestamp` (or abort), retrying a
    /// participant until one of its leaders has applied it.
    func phaseTwo(
        _ participants: [TransactionRecord.Participant], commit: Bool, commitTimestamp: TransactionID,
        from coordinator: Int, crashAfterFirst: Bool = false
    ) async {
        let network = twoPhaseNetwork
        await withTaskGroup(of: Void.self) { group in
            for (position, participant) in participants.enumerated() {
                if crashAfterFirst && position > 0 { break }
                group.addTask {
                    for _ in 0..<Self.maxRedirects {
                        let reply = await network.call(
                            from: coordinator, to: participant.region,
                            .finish(xid: participant.xid, commit: commit, commitTimestamp: commitTimestamp))
                        if case .finished = reply { return }
                    }
                }
            }
        }
    }

    /// Whether the test hook crashes the coordinator at `step` of `global`.
    private func hook(_ step: TwoPhaseStep, _ global: GlobalTransaction) -> Bool {
        guard let hook = coordinatorCrashHook.withLock({ $0 }) else { return false }
        let crash = hook.body(step, global)
        if crash { regions[global.coordinator].twoPhase.coordinatorCrashes.add(1, ordering: .relaxed) }
        return crash
    }

    // MARK: - Serving requests between regions

    /// Serves a request arriving at region `index` (at its leader).
    func serve(region index: Int, from: Int, _ request: RegionRequest) async -> RegionReply {
        let region = regions[index]
        switch request {
        case .transfer(let transfer):
            guard let placement = placement.withLock({ $0 }) else { return .unavailable("not loaded") }
            return .transferred(await coordinate(transfer, at: index, placement: placement, start: clock.nowNanos()))
        case .execute(let work):
            let started = clock.nowNanos()
            let leader: ReplicaIncarnation
            do { leader = try await self.leader(of: region) } catch {
                return .unavailable("\(error)")
            }
            var trace = Trace()
            trace.add(.redirect, clock.nowNanos() &- started)
            var vote = await leader.participate(work, configuration: configuration, trace: trace)
            vote.processingNanos = clock.nowNanos() &- started
            if case .prepared(let xid) = vote.outcome, xid != work.timestamp {
                region.twoPhase.participantPushes.add(1, ordering: .relaxed)
            }
            return .voted(vote)
        case .finish(let xid, let commit, let commitTimestamp):
            let leader: ReplicaIncarnation
            do { leader = try await self.leader(of: region) } catch {
                return .unavailable("\(error)")
            }
            let command: ReplicaCommand =
                commit ? .commitPrepared(xid: xid, commitTimestamp: commitTimestamp) : .abortPrepared(xid: xid)
            do { _ = try await leader.node.proposeWithReceipt(command.encoded()) } catch {
                return .unavailable("\(error)")
            }
            return .finished
        case .resolve(let global):
            let leader: ReplicaIncarnation
            do { leader = try await self.leader(of: region) } catch {
                return .unavailable("\(error)")
            }
            if let record = leader.machine.record(of: global.id) { return .record(record) }
            // No decision: abort it, durably, so a late coordinator finds the abort (Percolator).
            let abort = TransactionRecord(commit: false, commitTimestamp: 0, participants: [])
            guard let decided = await decide(global.id, abort, at: leader) else {
                return .unavailable("the abort record's outcome is unknown")
            }
            if !decided.commit { region.twoPhase.abortRecords.add(1, ordering: .relaxed) }
            return .record(decided)
        case .timestamps(let count):
            return await serveTimestamps(count: count)
        case .executeBatch(let works):
            return await serveBatch(region: index, works)
        case .finishBatch(let list):
            return await serveFinishBatch(region: index, list)
        }
    }

    // MARK: - In-doubt resolution

    /// Resolves the transactions prepared at `region`'s leader for at least `olderThan`: asks each
    /// one's coordinator region for its record (aborting a missing one there) and applies it.
    /// Returns how many it resolved.
    @discardableResult
    func resolveInDoubt(region index: Int, olderThan: Duration) async -> Int {
        guard let leader = try? await self.leader(of: regions[index], within: .seconds(1)) else { return 0 }
        let now = clock.nowNanos()
        let due = leader.machine.prepared.filter { now &- $0.value.since >= olderThan.clampedNanoseconds }
        guard !due.isEmpty else { return 0 }
        let network = twoPhaseNetwork
        return await withTaskGroup(of: Int.self) { group in
            for (xid, info) in due {
                group.addTask {
                    let reply = await network.call(from: index, to: info.global.coordinator, .resolve(info.global))
                    guard case .record(let record) = reply else { return 0 }
                    let command: ReplicaCommand =
                        record.commit
                        ? .commitPrepared(xid: xid, commitTimestamp: record.commitTimestamp) : .abortPrepared(xid: xid)
                    guard (try? await leader.node.proposeWithReceipt(command.encoded())) != nil else { return 0 }
                    if record.commit {
                        self.regions[index].twoPhase.inDoubtCommitted.add(1, ordering: .relaxed)
                    } else {
                        self.regions[index].twoPhase.inDoubtAborted.add(1, ordering: .relaxed)
                    }
                    return 1
                }
            }
            var resolved = 0
            for await count in group { resolved += count }
            return resolved
        }
    }
}

extension ReplicaIncarnation {
    /// Phase one at this leader: executes `work`'s legs in a local transaction under the
    /// coordinator's timestamp (or a pushed one above what this replica issued), then prepares it
    /// through the region's log. Nothing stays prepared unless the vote is `prepared`.
    func participate(
        _ work: ParticipantWork, configuration: EngineConfiguration, trace before: Trace, group: GroupPrepare? = nil,
        session: [UInt8]? = nil
    ) async -> ParticipantVote {
        let submitted = SubmittedFlag()
        let vote: ParticipantVote
        if let session {
            vote = await participateOnce(
                work, configuration: configuration, trace: before, group: group, submitted: submitted,
                payload: session)
        } else {
            // A session from the pool for this transfer's part.
            var trace = before
            let asked = configuration.clock.nowNanos()
            do {
                let lease = try await executor.pool.acquire()
                trace.add(.poolWait, configuration.clock.nowNanos() &- asked)
                vote = await participateOnce(
                    work, configuration: configuration, trace: trace, group: group, submitted: submitted,
                    payload: lease.session.accountPayload)
                executor.pool.release(lease)
            } catch {
                trace.add(.poolWait, configuration.clock.nowNanos() &- asked)
                let code = (error as? TransactionError)?.sqlState ?? TransactionError.Code.internalError.rawValue
                vote = ParticipantVote(outcome: .failed(sqlState: code), trace: trace, processingNanos: 0)
            }
        }
        // A batch member that failed before handing its write set must not hold up the batch.
        if let group, !submitted.isSet { group.withdraw() }
        return vote
    }

    private func participateOnce(
        _ work: ParticipantWork, configuration: EngineConfiguration, trace before: Trace, group: GroupPrepare?,
        submitted: SubmittedFlag, payload: [UInt8]
    ) async -> ParticipantVote {
        var trace = before
        _ = try? hlc.update(HybridTimestamp(rawValue: work.timestamp))
        let runtime = executor.runtime
        // The coordinator's timestamp if it is above every id this replica issued, else a push to
        // a fresh one of this replica's (another issuer's tag: no collision).
        var transaction: Transaction?
        var lastError: TransactionError?
        for _ in 0..<3 {
            let highest = storage.highestTransactionID
            let xid = work.timestamp > highest ? work.timestamp : nextTransactionID()
            do {
                transaction = try runtime.begin(configuration.isolation, xid: xid)
                break
            } catch {
                lastError = error
            }
        }
        guard let transaction else {
            var vote = ParticipantVote(
                outcome: .failed(sqlState: lastError?.sqlState ?? TransactionError.Code.serializationFailure.rawValue),
                trace: trace, processingNanos: 0)
            vote.timestampRejected = true
            return vote
        }
        let ledger = work.ledger.map { ledger in
            (
                id: ledger.id, amount: ledger.amount,
                payload: Transfer.ledgerPayload(legs: work.allLegs, padding: configuration.payloadBytes)
            )
        }
        do {
            try await Transfer.executePart(
                work.legs, ledger: ledger, in: transaction, overdraft: configuration.overdraft, payload: payload,
                wait: group == nil ? nil : .noWait)
            let log = self.log
            let global = work.global
            try await runtime.prepareReplicated(transaction) { writes throws(TransactionError) in
                submitted.set()
                if let group { return try await group.prepare(transaction.xid, global: global, writes: writes) }
                return try await log.replicatePrepare(transaction.xid, global: global, writes: writes)
            }
        } catch {
            runtime.abort(transaction)
            trace.add(transaction.trace.withoutExecution())
            switch error {
            case is Transfer.Rejection:
                return ParticipantVote(outcome: .rejected, trace: trace, processingNanos: 0)
            case let error as TransactionError:
                // A batch member that found a row locked (NOWAIT) retries in a later batch rather
                // than have its batch wait on a lock while the batch's prepared members hold others
                // (batches waiting on each other's locks would deadlock unseen by any detector).
                return ParticipantVote(outcome: .failed(sqlState: error.sqlState), trace: trace, processingNanos: 0)
            case is Transfer.InvalidRequest:
                return ParticipantVote(
                    outcome: .failed(sqlState: Transfer.InvalidRequest.sqlState), trace: trace, processingNanos: 0)
            default:
                return ParticipantVote(
                    outcome: .failed(sqlState: TransactionError.Code.internalError.rawValue), trace: trace,
                    processingNanos: 0)
            }
        }
        trace.add(transaction.trace.withoutExecution())
        return ParticipantVote(outcome: .prepared(xid: transaction.xid), trace: trace, processingNanos: 0)
    }
}

/// Whether a batch member handed its write set to its group (set once).
final class SubmittedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
