import Distributed
import Runtime
import Storage
import Synchronization

extension ReplicatedCluster {
    // MARK: - Transfers

    /// Executes a transfer: validated, then one phase at its region's leader or two-phase commit
    /// through a coordinator (see `route`).
    func transfer(_ request: TransferRequest) async -> TransferResult {
        let start = clock.nowNanos()
        do { try Transfer.validate(request) } catch {
            return NodeExecutor.result(.failure(error), retried: [], trace: Trace(), start: start, xid: 0, clock)
        }
        guard let placement = placement.withLock({ $0 }) else {
            return TransferResult(
                .failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: clock.nowNanos() &- start, xid: 0)
        }
        return await route(request, placement: placement, start: start)
    }

    /// Executes a transfer whose accounts all live in `region` at that region's leader, in one
    /// phase, redirecting (L2 `redirect`) when the leader is unknown or changes under it.
    func onePhase(_ request: TransferRequest, in region: Region, start: UInt64) async -> TransferResult {
        var trace = Trace()
        var retried: [String] = []
        for attempt in 0...Self.maxRedirects {
            let asked = clock.nowNanos()
            let leader: ReplicaIncarnation
            do { leader = try await self.leader(of: region) } catch {
                trace.add(.redirect, clock.nowNanos() &- asked)
                return TransferResult(
                    .failed(sqlState: TransactionError.Code.adminShutdown.rawValue), retried: retried, trace: trace,
                    endToEnd: clock.nowNanos() &- start, xid: 0)
            }
            trace.add(.redirect, clock.nowNanos() &- asked)
            // A redirected attempt's outcome was unknown: its commit entry may have reached a quorum
            // before the leader lost its leadership, and the new leader has applied it. The ledger row
            // (keyed by the transfer's id) says so; running the transfer again would apply it twice.
            if attempt > 0, let done = leader.storage.committedRow(Transfer.ledgerKey(request.id)) {
                return TransferResult(
                    .committed, retried: retried, trace: trace, endToEnd: clock.nowNanos() &- start, xid: done.xmin)
            }
            // The client's last timestamp: this transfer's id (from the leader's HLC) is above it.
            if request.causalTimestamp > 0 {
                _ = try? leader.hlc.update(HybridTimestamp(rawValue: request.causalTimestamp))
            }
            let attemptStart = clock.nowNanos()
            let result = await leader.executor.execute(
                request, trace: trace, start: start, xid: oracleTransactionIDs(region: region.index, leader: leader))
            guard result.outcome == .failed(sqlState: TransactionError.Code.adminShutdown.rawValue),
                attempt < Self.maxRedirects, !leader.isServing
            else {
                var final = result
                final.retriedErrors = retried + result.retriedErrors
                return final
            }
            // The leader lost its leadership under the transfer: the attempt's time was spent
            // finding out, and the transfer goes to the new leader.
            region.leaderHint.store(-1, ordering: .relaxed)
            retried.append(TransactionError.Code.adminShutdown.rawValue)
            trace.add(.redirect, clock.nowNanos() &- attemptStart)
        }
        preconditionFailure("the redirect loop returns")
    }

    // MARK: - Observations

    /// Every replica's counters: its storage and runtime (a follower's runtime is idle) and its
    /// Raft node.
    func counters() -> BackendCounters {
        var nodes: [NodeID: [String: Double]] = [:]
        for region in regions {
            for replica in region.replicas {
                guard let incarnation = replica.incarnation else { continue }
                var counters = incarnation.executor.counters()
                let raft = incarnation.node.publishedStatistics
                let machine = incarnation.machine.counters
                counters["raft_messages_sent"] = Double(raft.messagesSent)
                counters["raft_messages_received"] = Double(raft.messagesReceived)
                counters["raft_bytes_sent"] = Double(raft.bytesSent)
                counters["raft_entries_persisted"] = Double(raft.entriesPersisted)
                counters["raft_entries_applied"] = Double(raft.entriesApplied)
                counters["raft_append_batches"] = Double(raft.appendBatches)
                counters["raft_fsyncs"] = Double(raft.fsyncs)
                counters["raft_append_fsync_ms"] = Double(raft.appendFsyncNanos) / 1e6
                counters["raft_log_bytes"] = Double(raft.logBytesWritten)
                counters["raft_elections"] = Double(raft.elections)
                counters["raft_leader_changes"] = Double(raft.leaderChanges)
                counters["raft_proposals_acknowledged"] = Double(raft.proposalsAcknowledged)
                counters["raft_acknowledged_lost"] = Double(raft.acknowledgedLost + machine.lostAhead)
                counters["replica_deposed_aborts"] = Double(machine.deposedAborts)
                counters["replica_apply_failures"] = Double(machine.undecodable + machine.applyFailures)
                // A replica's commit is durable once its Raft log's fsync is: those are its fsyncs.
                counters["fsyncs"] = Double(raft.fsyncs)
                counters["phase_two_unknown"] = Double(incarnation.machine.phaseTwoUnknown)
                // Region-level counters (its coordinator's and participant's) on its first replica.
                if replica === region.replicas.first {
                    for (name, value) in region.twoPhase.values { counters[name] = value }
                    counters["wan_messages_2pc"] = Double(twoPhaseNetwork.sentFrom(region.index))
                }
                nodes[replica.id] = counters
            }
        }
        return BackendCounters(nodes: nodes)
    }

    /// The leaders' gauges (the largest value over regions), plus each region's Raft indexes.
    func gauges() -> [String: Double] {
        var gauges: [String: Double] = [:]
        for region in regions {
            for replica in region.replicas {
                guard let incarnation = replica.incarnation else { continue }
                let status = incarnation.node.publishedStatus
                if status.role == .leader {
                    for (key, value) in incarnation.executor.gauges() { gauges[key] = max(gauges[key] ?? 0, value) }
                    gauges["raft_commit_index_\(region.name)"] = Double(status.commitIndex)
                    gauges["replica_rebuilds"] = Double(rebuilds.load(ordering: .relaxed))
                }
            }
        }
        return gauges
    }

    // MARK: - Audit

    /// Crashes every node, restarts every replica from its log, waits until each region has a
    /// serving leader and every replica has applied the leader's whole log, then audits: state
    /// hashes and applied indexes of every replica, the ledger of every leader against the
    /// acknowledged transfers, and the `xmin` of every replica's ledger rows (the identity on
    /// every replica).
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        await stopMonitor()
        defer { startMonitor() }
        for region in regions {
            for replica in region.replicas { await replica.crash(router: router) }
        }
        for region in regions {
            region.leaderHint.store(-1, ordering: .relaxed)
            for replica in region.replicas { try start(replica, in: region) }
            // The replica with the longest log campaigns first (as an operator promotes the most
            // advanced standby): under async replication a shorter-logged pair could otherwise
            // elect one of themselves and drop acknowledged entries only the old leader holds.
            var best: (node: RaftNode, last: UInt64)?
            for replica in region.replicas {
                guard let node = replica.incarnation?.node else { continue }
                let last = await node.status.lastIndex
                if best == nil || last > best!.last { best = (node, last) }
            }
            best?.node.campaign()
        }
        var report = AuditReport(
            expectedTotal: expectation.initialBalance &* Int64(expectation.accounts),
            acknowledged: expectation.acknowledged.count)
        // In-doubt transactions (prepared, their phase two lost with the crash) are resolved from
        // their coordinators' records before anything is read: the run fails on any left.
        report.inDoubtResolved = try await resolveAllInDoubt()
        var ledger = LedgerAudit(expectation)
        var replicaLedgers: [NodeID: [UInt64: TransactionID]] = [:]
        var ledgerRegion: [UInt64: String] = [:]
        for region in regions {
            let leader = try await self.leader(of: region)
            try await waitCaughtUp(region, leader: leader)
            for replica in region.replicas {
                guard let incarnation = replica.incarnation else { continue }
                report.preparedRemaining += incarnation.storage.preparedTransactions().count
                report.locksHeld += incarnation.storage.rowLocksHeld
                report.stateHashes[replica.id] = incarnation.storage.stateHash()
                report.appliedIndexes[replica.id] = incarnation.machine.applied.index
                let recovered = incarnation.node.publishedStatus
                report.recoveries[replica.id] = NodeRecovery(
                    checkpointLoaded: false, redoPosition: 0, recordsReplayed: Int(recovered.appliedIndex),
                    committedReplayed: Int(recovered.appliedIndex), abortedInProgress: 0, preparedRestored: 0,
                    truncatedBytes: 0)
                var own: [UInt64: TransactionID] = [:]
                for entry in incarnation.storage.committedRows() where entry.key >= Transfer.ledgerBase {
                    own[entry.key & ~Transfer.ledgerBase] = entry.xmin
                }
                replicaLedgers[replica.id] = own
            }
            for entry in leader.storage.committedRows() {
                if let id = ledger.add(entry, to: &report) { ledgerRegion[id] = region.name }
            }
        }
        ledger.finish(expectation, into: &report)
        for (id, xid) in expectation.acknowledged where ledger.ledger[id] != nil {
            for (node, own) in replicaLedgers where node.region == ledgerRegion[id] && own[id] != xid {
                report.replicaXidMismatches += 1
            }
        }
        if configuration.replication == .async { report.acknowledgedLostInFailover = report.lost }
        return report
    }

    /// Resolves every prepared transaction of every region's leader from its coordinator's record,
    /// until none is left (or the leader wait passes); returns how many it resolved.
    private func resolveAllInDoubt() async throws -> Int {
        let deadline = clock.nowNanos() &+ Self.leaderWait.clampedNanoseconds
        var resolved = 0
        while true {
            var left = 0
            for region in regions {
                let leader = try await self.leader(of: region)
                resolved += await resolveInDoubt(region: region.index, olderThan: .zero)
                left += leader.machine.prepared.count
            }
            if left == 0 || clock.nowNanos() >= deadline { return resolved }
            try await clock.sleep(for: .milliseconds(5))
        }
    }

    /// Waits until every replica of `region` has applied the leader's last index.
    private func waitCaughtUp(_ region: Region, leader: ReplicaIncarnation) async throws {
        let deadline = clock.nowNanos() &+ Self.leaderWait.clampedNanoseconds
        while true {
            let target = leader.node.publishedStatus.lastIndex
            let behind = region.replicas.contains { replica in
                guard let incarnation = replica.incarnation else { return true }
                return incarnation.machine.applied.index < target
            }
            if !behind && leader.machine.applied.index >= target { return }
            guard clock.nowNanos() < deadline else {
                throw NoLeader(region: region.name + " (replicas did not catch up)", waited: Self.leaderWait)
            }
            try await clock.sleep(for: .milliseconds(1))
        }
    }

    /// Stops every node.
    func shutdown() async {
        await stopMonitor()
        for region in regions {
            for replica in region.replicas { await replica.crash(router: router) }
        }
        stopRouter()
    }
}
