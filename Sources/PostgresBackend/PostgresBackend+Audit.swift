import Engine
import Foundation
import PostgresCluster
import PostgresNIO
import Storage
import Synchronization
import WorkloadSpec

extension PostgresBackend {
    /// The longest wait for the standbys to replay up to the primary's current LSN.
    static let catchUpTimeoutNanos: UInt64 = 60_000_000_000

    /// Closes the pools, waits until every standby has replayed the primary's WAL, gives every
    /// server a fast shutdown and restart (`pg_ctl stop -m fast`, then start, through
    /// `PostgresCluster`; servers given by DSN are not restarted, and ``AuditDetail/restarted``
    /// says so), resolves the transactions left prepared (``resolveInDoubt()``), then reads the state back from each primary: conservation, negative balances,
    /// every acknowledged transfer's ledger row and its `xmin` against the xid the transfer
    /// reported (a cross-region transfer's row is at its debit's region, with all its legs), each account's balance against initial + ledger credits - debits, prepared
    /// transactions left, and the recorded `ts -> xmin` mapping. State hashes are taken on every
    /// primary and every known standby (after they caught up again), so replicas are compared.
    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        await closePools()
        var detail = AuditDetail(
            restarted: false, standbysCaughtUp: [:], standbys: [:], preparedLeft: 0, tsXminPairs: 0,
            tsXminInversions: 0, sample: [])
        for region in deploymentRegions {
            let (caughtUp, standbys) = try await waitForStandbys(region.primary)
            detail.standbysCaughtUp[region.name] = caughtUp
            detail.standbys[region.name] = standbys
        }
        if let cluster = deployment.cluster {
            try await cluster.restart()
            detail.restarted = true
        }
        // Prepared transactions survive the restart; a coordinator that stopped between PREPARE
        // and phase two left them: resolved from the decision logs, before the state is read.
        let resolution = try await resolveInDoubt()
        detail.inDoubtCommitted = resolution.committed
        detail.inDoubtAborted = resolution.aborted
        if deployment.cluster != nil {
            for region in deploymentRegions { _ = try await waitForStandbys(region.primary) }
        }
        var report = AuditReport(
            expectedTotal: expectation.initialBalance &* Int64(expectation.accounts),
            acknowledged: expectation.acknowledged.count)
        var ledger: [UInt64: Int64] = [:]
        var deltas: [Int64: Int64] = [:]
        var pairs: [AuditDetail.Pair] = []
        var inversions = 0
        for (index, region) in deploymentRegions.enumerated() {
            let node = nodes[index]
            let found = try await withConnection(region.primary) { connection in
                try await Self.readPrimary(connection, initialBalance: expectation.initialBalance, logger: logger)
            }
            report.actualTotal &+= found.total
            report.accountsFound += found.accounts
            report.negativeAccounts += found.negative
            detail.preparedLeft += found.prepared
            report.stateHashes[node] = found.hash
            report.recoveries[node] = NodeRecovery(
                checkpointLoaded: true, redoPosition: found.redo, recordsReplayed: 0, committedReplayed: 0,
                abortedInProgress: 0, preparedRestored: found.prepared, truncatedBytes: 0)
            // Each server numbers its own xids: the ts order is compared with one server's xmins.
            let ordered = found.ledger.map { ($0.ts, $0.xmin) }.sorted { $0 < $1 }
            inversions += zip(ordered, ordered.dropFirst()).reduce(0) { $0 + ($1.1.1 < $1.0.1 ? 1 : 0) }
            for row in found.ledger {
                ledger[UInt64(bitPattern: row.id)] = row.xmin
                pairs.append(AuditDetail.Pair(ts: row.ts, xmin: row.xmin))
                if let legs = row.legs {
                    Transfer.forEachLeg(inLedger: legs, amount: row.amount) { account, amount in
                        deltas[Int64(bitPattern: account), default: 0] &+= amount
                    }
                } else {
                    deltas[row.from, default: 0] &-= row.amount
                    deltas[row.to, default: 0] &+= row.amount
                }
            }
            for (standbyIndex, standby) in region.standbys.enumerated() {
                let hash = try await withConnection(standby) { connection in
                    try await Self.stateHash(connection, logger: logger)
                }
                report.stateHashes[NodeID(region: region.name, replica: standbyIndex + 1)] = hash
            }
        }
        // Every account: its balance on disk against initial + the ledger's net movement.
        var balances: [Int64: Int64] = [:]
        for region in deploymentRegions {
            let changed = try await withConnection(region.primary) { connection in
                try await Self.changedAccounts(connection, initialBalance: expectation.initialBalance, logger: logger)
            }
            balances.merge(changed) { first, _ in first }
        }
        for (account, delta) in deltas where delta != 0 {
            let actual = balances[account] ?? expectation.initialBalance
            if actual != expectation.initialBalance &+ delta { report.balanceMismatches += 1 }
        }
        for (account, _) in balances where (deltas[account] ?? 0) == 0 { report.balanceMismatches += 1 }
        for (id, xid) in expectation.acknowledged {
            guard let xmin = ledger[id] else {
                report.lost += 1
                continue
            }
            if UInt64(bitPattern: xmin) != xid { report.xidMismatches += 1 }
        }
        pairs.sort { ($0.ts, $0.xmin) < ($1.ts, $1.xmin) }
        detail.tsXminPairs = pairs.count
        detail.tsXminInversions = inversions
        detail.sample = Array(pairs.prefix(5))
        // A failover under async replication may lose acknowledged transfers: their price, counted
        // and shown. Under sync replication nothing may be lost, so a loss stays a failure.
        let failedOver = failedOver.withLock { $0 }
        detail.failovers = failedOver.servers
        if !detail.failovers.isEmpty && failedOver.asyncReplication {
            report.acknowledgedLostInFailover = report.lost
            detail.lostInFailover = report.lost
        }
        report.preparedRemaining = detail.preparedLeft
        report.inDoubtResolved = resolution.total
        recordAudit(detail)
        return report
    }

    /// What the audit reads from one primary.
    struct PrimaryState: Sendable {
        struct LedgerRow: Sendable {
            var id: Int64
            var from: Int64
            var to: Int64
            var amount: Int64
            var ts: Int64
            var xmin: Int64
            var legs: [UInt8]?
        }

        var accounts = 0
        var total: Int64 = 0
        var negative = 0
        var prepared = 0
        var hash: UInt64 = 0
        var redo: UInt64 = 0
        var ledger: [LedgerRow] = []
    }

    static func readPrimary(_ connection: PostgresConnection, initialBalance: Int64, logger: Logger) async throws
        -> PrimaryState
    {
        var state = PrimaryState()
        for try await (count, total, negative) in try await connection.query(
            "SELECT count(*), coalesce(sum(balance), 0)::bigint, count(*) FILTER (WHERE balance < 0) FROM accounts",
            logger: logger
        ).decode((Int64, Int64, Int64).self) {
            state.accounts = Int(count)
            state.total = total
            state.negative = Int(negative)
        }
        for try await prepared in try await connection.query(
            "SELECT count(*) FROM pg_prepared_xacts", logger: logger
        ).decode(Int64.self) {
            state.prepared = Int(prepared)
        }
        for try await redo in try await connection.query(
            "SELECT (redo_lsn - '0/0'::pg_lsn)::bigint FROM pg_control_checkpoint()", logger: logger
        ).decode(Int64.self) {
            state.redo = UInt64(max(0, redo))
        }
        state.hash = try await stateHash(connection, logger: logger)
        for try await (id, from, to, amount, ts, xmin, legs) in try await connection.query(
            "SELECT id, from_id, to_id, amount, ts, xmin::text::bigint, legs FROM ledger", logger: logger
        ).decode((Int64, Int64, Int64, Int64, Int64, Int64, ByteBuffer?).self) {
            state.ledger.append(
                PrimaryState.LedgerRow(
                    id: id, from: from, to: to, amount: amount, ts: ts, xmin: xmin,
                    legs: legs.map { Array($0.readableBytesView) }))
        }
        return state
    }

    /// The accounts whose balance is not the initial one.
    static func changedAccounts(_ connection: PostgresConnection, initialBalance: Int64, logger: Logger)
        async throws -> [Int64: Int64]
    {
        var changed: [Int64: Int64] = [:]
        for try await (id, balance) in try await connection.query(
            "SELECT id, balance FROM accounts WHERE balance <> \(initialBalance)", logger: logger
        ).decode((Int64, Int64).self) {
            changed[id] = balance
        }
        return changed
    }

    /// A hash of the committed state (every account's id and balance, and the ledger's ids and
    /// amounts), order-independent, equal on a primary and its caught-up standbys.
    static func stateHash(_ connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        var text = "0"
        for try await value in try await connection.query(
            """
            SELECT ((SELECT coalesce(sum(hashint8(id)::numeric * 4294967296 + hashint8(balance)::numeric), 0)
                     FROM accounts)
                  + (SELECT coalesce(sum(hashint8(id)::numeric * 65536 + hashint8(amount)::numeric), 0)
                     FROM ledger)) % 18446744073709551616
            """, logger: logger
        ).decode(String.self) {
            text = value
        }
        return UInt64(text.split(separator: ".").first ?? "0") ?? 0
    }

    /// Waits (bounded) until every standby in the primary's `pg_stat_replication` has replayed
    /// up to the primary's current LSN; returns whether they did and how many there are.
    func waitForStandbys(_ primary: PostgresDSN) async throws -> (Bool, Int) {
        let clock = self.clock
        return try await withConnection(primary) { connection in
            var target = ""
            for try await lsn in try await connection.query(
                "SELECT pg_current_wal_lsn()::text", logger: logger
            ).decode(String.self) {
                target = lsn
            }
            let begin = clock.nowNanos()
            while true {
                var standbys = 0
                var behind = 0
                for try await (all, lagging) in try await connection.query(
                    """
                    SELECT count(*), count(*) FILTER (WHERE replay_lsn IS NULL OR replay_lsn < \(target)::pg_lsn)
                    FROM pg_stat_replication
                    """, logger: logger
                ).decode((Int64, Int64).self) {
                    standbys = Int(all)
                    behind = Int(lagging)
                }
                if behind == 0 { return (true, standbys) }
                if clock.nanosSince(begin) > Self.catchUpTimeoutNanos { return (false, standbys) }
                try await clock.sleep(nanoseconds: 10_000_000)
            }
        }
    }
}
