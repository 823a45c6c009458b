import Distributed
import Engine
import PostgresNIO
import Runtime
import Storage
import Synchronization

/// Cross-region and global transfers: two-phase commit across the regions' PostgreSQL primaries,
/// driven by an L2 coordinator in this process (DESIGN.md, "Commit paths"). The coordinator is
/// the client's region with locality on, the home region (0) with it off; then the client's
/// gateway hop to it is one round trip (a trivial statement) through the client region's proxy
/// to the home region's primary, standing for the request and its answer. One attempt:
///
/// 1. an L2 timestamp: from the coordinator region's hybrid logical clock (above the client's
///    causal timestamp), or, with `timestamps: tso`, from the home region's oracle
///    (``PostgresTimestampOracle``; one round trip through the proxy for a coordinator in another
///    region);
/// 2. phase one, at every participant region's primary in parallel, through the coordinator's
///    route to it (the WAN proxy for another region): `BEGIN` at the spec's isolation, one call
///    of `lb_participate` (lock the region's accounts in key order, check, apply the legs, insert
///    the ledger row at the debit's region with `ts` = the L2 timestamp), then
///    `PREPARE TRANSACTION 'gid'`; the gid names the coordinator region, the timestamp and the
///    request (``gid(coordinator:timestamp:request:)``);
/// 3. if any participant did not prepare, `ROLLBACK PREPARED` at the ones that did (presumed
///    abort: no decision is written), and 40001, 40P01 and 55P03 (a lock wait across servers
///    timed out) are retried by the L1 retry policy with a new timestamp;
/// 4. the decision, durable first: an `INSERT ... ON CONFLICT DO NOTHING` into the coordinator
///    region's `l2_decisions`, committed on its own (replicated to the standbys per the server's
///    synchronous setting), reading back the decision that won (an in-doubt resolution may have
///    written an abort first);
/// 5. the acknowledgement, then phase two (`COMMIT PREPARED` at every participant) in the
///    background; a participant phase two does not reach stays prepared until in-doubt
///    resolution (``resolveInDoubt()``) commits it from the decision log.
///
/// Per-layer latency: L2 = the gateway hop, the timestamp, the proxies' delay on the slowest participant's
/// statements (its round trips times the pair's round trip), an abort round, and the decision;
/// L0 = the slowest participant's statement round trips minus that delay; L1 = the rest (pool
/// waits, connection set-up through the proxy, client work, retry backoff). Phase two runs after
/// the acknowledgement and is on no transfer's critical path.
extension PostgresBackend {
    /// The prefix of every gid this backend prepares (in-doubt resolution touches only these).
    public static let gidPrefix = "lb2pc_"
    /// The decision log, one table per primary (a coordinator writes to its own region's).
    static let decisionTable = "l2_decisions"
    /// SQLSTATE 40003, statement completion unknown: the coordinator failed after the participants
    /// prepared; the transfer commits or aborts at in-doubt resolution.
    static let outcomeUnknownSQLState = "40003"
    /// SQLSTATE 55P03, lock not available: a participant's `lock_timeout` expired.
    static let lockNotAvailableSQLState = "55P03"
    /// SQLSTATE 42704, undefined object: `COMMIT PREPARED` of a gid already resolved.
    static let undefinedObjectSQLState = "42704"
    /// SQLSTATE 55000, object not in prerequisite state: another session is finishing the gid.
    static let objectInUseSQLState = "55000"

    /// How a participant's phase one ended.
    enum Vote: Sendable, Equatable {
        /// Prepared; the ledger row's `xmin` when it holds the row, else 0.
        case prepared(xmin: Int64)
        case rejected
        case invalid
        case failed(String)
    }

    /// One participant's phase one, timed.
    struct ParticipantVote: Sendable {
        var region: Int
        var vote: Vote
        /// From asking the pool for a connection to the answer of the last statement.
        var elapsedNanos: UInt64
        /// The statements' round trips, the proxy's delay included.
        var statementNanos: UInt64
        /// The proxy's delay in those round trips (statements times the pair's round trip).
        var wanNanos: UInt64
    }

    /// The gid of one attempt: `lb2pc_<coordinator region>_<L2 timestamp>_<request id>` (unique:
    /// a coordinator's timestamps strictly increase).
    static func gid(coordinator: Int, timestamp: Int64, request: UInt64) -> String {
        "\(gidPrefix)\(coordinator)_\(timestamp)_\(request)"
    }

    /// The coordinator region a gid names, nil for a gid not of this form.
    static func coordinator(ofGID gid: String) -> Int? {
        guard gid.hasPrefix(gidPrefix) else { return nil }
        return gid.dropFirst(gidPrefix.count).split(separator: "_").first.flatMap { Int($0) }
    }

    /// Installs (or removes, with nil) the hook that crashes the coordinator at a step of a
    /// transfer: after every participant prepared, after the durable decision, or after phase
    /// two reached the first participant only.
    package func setCoordinatorCrashHook(_ body: (@Sendable (TwoPhaseStep, UInt64) -> Bool)?) {
        let boxed = body.map { CoordinatorCrashHook($0) }
        crashHook.withLock { $0 = boxed }
    }

    private func crashes(at step: TwoPhaseStep, _ request: UInt64, coordinator: Int) -> Bool {
        guard let hook = crashHook.withLock({ $0 }), hook.body(step, request) else { return false }
        twoPhaseCounters[coordinator].update { $0.coordinatorCrashes += 1 }
        return true
    }

    // MARK: - Coordinator

    /// Runs a transfer whose legs touch several regions as a two-phase commit, retrying per the
    /// runtime's retry policy.
    func coordinateTwoPhase(
        _ request: TransferRequest, legs: TransferLegs, placement: AccountPlacement, start: UInt64
    ) async -> TransferResult {
        let regionCount = deploymentRegions.count
        let client = min(max(request.clientRegion, 0), regionCount - 1)
        let coordinator = configuration.locality ? client : Self.homeRegion
        guard let routes = wanRoutes.withLock({ $0 }) else {
            // No load yet: no routes, no placement.
            return TransferResult(
                .failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: clock.nanosSince(start), xid: 0)
        }
        var parts: [(region: Int, legs: [TransferLeg])] = []
        for leg in legs {
            let region = placement.region(of: leg.account)
            if let index = parts.firstIndex(where: { $0.region == region }) {
                parts[index].legs.append(leg)
            } else {
                parts.append((region, [leg]))
            }
        }
        parts.sort { $0.region < $1.region }
        let debitRegion = request.legs.first(where: \.isDebit).map { placement.region(of: $0.account) } ?? 0
        let policy = configuration.runtime.retry
        let counters = nodeCounters[coordinator]
        var random = SplitMix64(seed: request.id ^ 0x2F0_C0DE)
        var breakdown = L2Breakdown()
        var l0: UInt64 = 0
        var retried: [String] = []
        var attempt = 0
        // The result, with the L2 spans as its breakdown (they add up to its L2 time).
        func result(_ outcome: TransferResult.Outcome, xid: TransactionID = 0) -> TransferResult {
            var result = TransferResult(
                outcome, retried: retried, endToEndNanos: clock.nanosSince(start), l2Nanos: breakdown.total,
                l0Nanos: l0, xid: xid)
            result.l2Breakdown = breakdown
            return result
        }
        if coordinator != client {
            // The client's gateway forwards the transfer to the global coordinator and waits for
            // its answer: one round trip through the client region's proxy to the home region.
            let forwarded = clock.nowNanos()
            let logger = self.logger
            do {
                try await routes.clients[client][coordinator].withOpenConnection { connection in
                    for try await _ in try await connection.execute(PostgresStatements.Ping(), logger: logger) {}
                }
            } catch {
                breakdown.gateway &+= clock.nanosSince(forwarded)
                return result(.failed(sqlState: Self.sqlState(of: error)))
            }
            breakdown.gateway &+= clock.nanosSince(forwarded)
        }
        while true {
            attempt += 1
            let vote = await attemptTwoPhase(
                request, parts: parts, debitRegion: debitRegion, coordinator: coordinator, routes: routes,
                breakdown: &breakdown, l0: &l0)
            switch vote {
            case .prepared(let xmin):
                return result(.committed, xid: TransactionID(UInt64(bitPattern: xmin)))
            case .rejected:
                return result(.rejected)
            case .invalid:
                return result(.failed(sqlState: Transfer.InvalidRequest.sqlState))
            case .failed(let code):
                let retryable =
                    TransactionError.Code(rawValue: code)?.isRetryable == true || code == Self.lockNotAvailableSQLState
                let elapsed = Duration.nanoseconds(Int64(clamping: clock.nanosSince(start)))
                guard retryable, attempt < policy.maxAttempts, elapsed < policy.maxTotal else {
                    if retryable { counters.exhausted() }
                    return result(.failed(sqlState: code))
                }
                retried.append(code)
                let backoff = policy.backoff(beforeRetry: attempt, using: &random)
                let sleepStart = clock.nowNanos()
                if backoff > .zero { try? await clock.sleep(for: backoff) }
                counters.retried(code, backoffNanos: clock.nanosSince(sleepStart))
            }
        }
    }

    /// One attempt; adds its L2 spans to `breakdown` and its critical-path L0 time to `l0`.
    /// `.prepared` means committed (the decision is durable), with the ledger row's `xmin`.
    private func attemptTwoPhase(
        _ request: TransferRequest, parts: [(region: Int, legs: [TransferLeg])], debitRegion: Int,
        coordinator: Int, routes: PostgresWANRoutes, breakdown: inout L2Breakdown, l0: inout UInt64
    ) async -> Vote {
        let stamped = clock.nowNanos()
        let timestamp: Int64
        do {
            timestamp = try await l2Timestamp(coordinator: coordinator, causal: request.causalTimestamp, routes: routes)
        } catch {
            breakdown.timestamp &+= clock.nanosSince(stamped)
            return .failed(Self.sqlState(of: error))
        }
        breakdown.timestamp &+= clock.nanosSince(stamped)
        let gid = Self.gid(coordinator: coordinator, timestamp: timestamp, request: request.id)
        let ledger = Self.ledgerRow(request, ts: timestamp)

        // Phase one at every participant in parallel; the slowest one is the critical path.
        let votes = await withTaskGroup(of: ParticipantVote.self) { group in
            for part in parts {
                group.addTask {
                    await self.prepare(
                        part.legs, region: part.region, coordinator: coordinator, gid: gid,
                        ledger: part.region == debitRegion ? ledger : nil, routes: routes)
                }
            }
            var votes: [ParticipantVote] = []
            for await vote in group { votes.append(vote) }
            return votes
        }
        if let slowest = votes.max(by: { $0.elapsedNanos < $1.elapsedNanos }) {
            breakdown.network &+= slowest.wanNanos
            l0 &+= slowest.statementNanos &- slowest.wanNanos
        }
        var prepared: [Int] = []
        var failure: Vote?
        var ledgerXmin: Int64 = 0
        for vote in votes.sorted(by: { $0.region < $1.region }) {
            switch vote.vote {
            case .prepared(let xmin):
                prepared.append(vote.region)
                if vote.region == debitRegion { ledgerXmin = xmin }
            case .rejected: failure = .rejected
            case .invalid: if failure != .rejected { failure = .invalid }
            case .failed: if failure == nil { failure = vote.vote }
            }
        }
        if let failure {
            // Presumed abort: no decision is written; the prepared participants roll back now.
            if !prepared.isEmpty {
                let aborting = clock.nowNanos()
                _ = await finish(gid, commit: false, at: prepared, coordinator: coordinator, routes: routes)
                breakdown.network &+= clock.nanosSince(aborting)
            }
            twoPhaseCounters[coordinator].update { $0.aborts += 1 }
            return failure
        }
        if crashes(at: .afterPrepare, request.id, coordinator: coordinator) {
            return .failed(Self.outcomeUnknownSQLState)
        }

        // The decision, durable in the coordinator region's log before the acknowledgement.
        let deciding = clock.nowNanos()
        let decided: Bool
        do {
            decided = try await routes.clients[coordinator][coordinator].withOpenConnection { connection in
                try await Self.decide(gid, commit: true, timestamp: timestamp, on: connection, logger: logger)
            }
        } catch {
            // The decision's fate is unknown: the participants stay prepared until in-doubt
            // resolution reads (or writes) the decision.
            breakdown.decision &+= clock.nanosSince(deciding)
            return .failed(Self.outcomeUnknownSQLState)
        }
        breakdown.decision &+= clock.nanosSince(deciding)
        if crashes(at: .afterDecision, request.id, coordinator: coordinator) {
            return .failed(Self.outcomeUnknownSQLState)
        }
        let onlyFirst = crashes(at: .duringPhaseTwo, request.id, coordinator: coordinator)
        let targets = onlyFirst ? Array(prepared.prefix(1)) : prepared
        phaseTwo.begin()
        Task {
            let failures = await self.finish(
                gid, commit: decided, at: targets, coordinator: coordinator, routes: routes)
            if failures > 0 {
                self.twoPhaseCounters[coordinator].update { $0.phaseTwoFailures += UInt64(failures) }
            }
            self.phaseTwo.end()
        }
        guard decided else {
            // An in-doubt resolution decided abort first.
            twoPhaseCounters[coordinator].update {
                $0.aborts += 1
                $0.decisionsOverruled += 1
            }
            return .failed(TransactionError.Code.serializationFailure.rawValue)
        }
        twoPhaseCounters[coordinator].update { $0.commits += 1 }
        return .prepared(xmin: ledgerXmin)
    }

    /// The home region: the timestamp oracle and, with locality off, the coordinator live there.
    static let homeRegion = 0

    /// An L2 timestamp for a transaction coordinated in `coordinator`'s region: with
    /// `timestamps: hlc`, the region's hybrid logical clock, first moved above the client's
    /// causal timestamp; with `tso`, the home region's oracle, a round trip through the WAN proxy
    /// away for a coordinator in another region.
    func l2Timestamp(coordinator: Int, causal: TransactionID, routes: PostgresWANRoutes) async throws -> Int64 {
        guard let oracle = timestampOracle.withLock({ $0 }) else {
            let hlc = hlcs[coordinator]
            if causal > 0 { _ = try? hlc.update(HybridTimestamp(rawValue: causal)) }
            return Int64(bitPattern: hlc.now().rawValue)
        }
        let logger = self.logger
        if coordinator != Self.homeRegion {
            // The request to the oracle and its answer cross the WAN: one trivial statement.
            try await routes.clients[coordinator][Self.homeRegion].withOpenConnection { connection in
                for try await _ in try await connection.execute(PostgresStatements.Ping(), logger: logger) {}
            }
        }
        let clock = self.clock
        let issued = try await oracle.next(
            nowMillis: { clock.wallNanos() / 1_000_000 },
            persist: { limit in
                try await routes.clients[Self.homeRegion][Self.homeRegion].withOpenConnection { connection in
                    _ = try await connection.query(
                        "UPDATE l2_tso SET limit_ms = greatest(limit_ms, \(Int64(clamping: limit)))", logger: logger)
                }
            })
        return Int64(bitPattern: issued.rawValue)
    }

    /// Starts the timestamp oracle (`timestamps: tso`) from the bound persisted in the home
    /// region's primary (`l2_tso`, kept across loads so timestamps never go backwards).
    func startTimestampOracle() async throws {
        guard configuration.timestamps == .tso, timestampOracle.withLock({ $0 }) == nil,
            let home = deploymentRegions.first
        else { return }
        let limit = try await withConnection(home.primary) { connection -> Int64 in
            try await connection.query("CREATE TABLE IF NOT EXISTS l2_tso (limit_ms bigint NOT NULL)", logger: logger)
            try await connection.query(
                "INSERT INTO l2_tso SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM l2_tso)", logger: logger)
            var limit: Int64 = 0
            for try await value in try await connection.query("SELECT max(limit_ms) FROM l2_tso", logger: logger)
                .decode(Int64.self)
            {
                limit = value
            }
            return limit
        }
        let oracle = PostgresTimestampOracle(persistedLimitMillis: UInt64(max(0, limit)))
        timestampOracle.withLock { $0 = $0 ?? oracle }
    }

    /// Phase one at one participant: BEGIN, `lb_participate`, PREPARE TRANSACTION (ROLLBACK when
    /// the participant rejects the legs or fails).
    private func prepare(
        _ legs: [TransferLeg], region: Int, coordinator: Int, gid: String,
        ledger: PostgresStatements.InsertLedger?, routes: PostgresWANRoutes
    ) async -> ParticipantVote {
        let client = routes.clients[coordinator][region]
        let roundTrip = routes.roundTripNanos[coordinator][region]
        let counters = nodeCounters[region]
        let clock = self.clock
        let logger = self.logger
        let isolation = configuration.isolation
        let work = PostgresStatements.Participate(
            ids: legs.map { Int64(bitPattern: $0.account) }, amounts: legs.map(\.amount),
            overdraft: configuration.overdraft, ledger: ledger)
        let asked = clock.nowNanos()
        var vote: Vote
        var statementNanos: UInt64 = 0
        var statements = 0
        do {
            (vote, statementNanos, statements) = try await client.withOpenConnection {
                connection -> (Vote, UInt64, Int) in
                await EventLoopBound(connection.eventLoop).run { _ in
                    // A PREPARE TRANSACTION that fails rolls the transaction back itself.
                    let attempt = await Self.participate(
                        work, isolation: isolation, on: connection, clock: clock, logger: logger
                    ) { connection in
                        _ = try await connection.query(
                            PostgresQuery(unsafeSQL: "PREPARE TRANSACTION '\(gid)'"), logger: logger)
                    }
                    let vote: Vote
                    switch attempt.answer {
                    case .success(let xmin) where xmin >= 0: vote = .prepared(xmin: xmin)
                    case .success(let xmin): vote = xmin == -1 ? .rejected : .invalid
                    case .failure(let error): vote = .failed(Self.sqlState(of: error))
                    }
                    return (vote, attempt.nanos, attempt.count)
                }
            }
        } catch {
            vote = .failed(Self.sqlState(of: error))
        }
        counters.statements(statements, nanos: statementNanos)
        if case .failed(let code) = vote { counters.attemptEnded(AttemptOutcome.failed(code)) }
        return ParticipantVote(
            region: region, vote: vote, elapsedNanos: clock.nanosSince(asked), statementNanos: statementNanos,
            wanNanos: min(statementNanos, UInt64(statements) &* roundTrip))
    }

    /// One participant attempt's statements on `connection`, each timed (L0): BEGIN at
    /// `isolation`, `lb_participate` (`work`), then `end` (COMMIT, or PREPARE TRANSACTION) when
    /// the function answered a ledger row's `xmin`, ROLLBACK when it answered -1 (rejected) or -2
    /// (invalid; nothing was written), and ROLLBACK after an error inside the transaction. Returns
    /// the answer or the error, with the statements' total time and count.
    static func participate(
        _ work: PostgresStatements.Participate, isolation: IsolationLevel, on connection: PostgresConnection,
        clock: any EngineClock, logger: Logger, end: (PostgresConnection) async throws -> Void
    ) async -> (answer: Result<Int64, any Error>, nanos: UInt64, count: Int) {
        var nanos: UInt64 = 0
        var count = 0
        func timed<T>(_ body: () async throws -> T) async throws -> T {
            try connection.ensureOpen()
            let begin = clock.nowNanos()
            defer {
                nanos &+= clock.nanosSince(begin)
                count += 1
            }
            return try await body()
        }
        var inTransaction = false
        do {
            try await timed { try await PostgresStatements.begin(isolation, on: connection, logger: logger) }
            inTransaction = true
            let answer = try await timed { () -> Int64 in
                var answer: Int64 = -2
                for try await value in try await connection.execute(work, logger: logger) { answer = value }
                return answer
            }
            if answer < 0 {
                _ = try await timed { try await connection.execute(PostgresStatements.Rollback(), logger: logger) }
                return (.success(answer), nanos, count)
            }
            inTransaction = false
            try await timed { try await end(connection) }
            return (.success(answer), nanos, count)
        } catch {
            // No ROLLBACK on a connection that failed: it would never be answered (and the
            // server ends the transaction of a connection that went away).
            if inTransaction && !Self.isConnectionFailure(error) {
                _ = try? await timed { try await connection.execute(PostgresStatements.Rollback(), logger: logger) }
            }
            return (.failure(error), nanos, count)
        }
    }

    /// Phase two (or the abort of phase one): `COMMIT PREPARED` or `ROLLBACK PREPARED` of `gid`
    /// at every region of `regions` in parallel, through the coordinator's routes. A gid already
    /// resolved (42704) counts as done. Returns how many participants it did not reach (their
    /// transactions stay prepared until in-doubt resolution).
    func finish(
        _ gid: String, commit: Bool, at regions: [Int], coordinator: Int, routes: PostgresWANRoutes
    ) async -> Int {
        let logger = self.logger
        let clock = self.clock
        let sql = (commit ? "COMMIT PREPARED '" : "ROLLBACK PREPARED '") + gid + "'"
        return await withTaskGroup(of: Int.self) { group in
            for region in regions {
                let client = routes.clients[coordinator][region]
                group.addTask {
                    // Bounded: a statement that never answers (a connection whose end was lost)
                    // leaves the participant prepared for in-doubt resolution rather than holding
                    // phase two, and the pools' closing behind it, forever.
                    let outcome = await Self.within(Self.phaseTwoTimeout, on: clock) {
                        do {
                            try await client.withOpenConnection { connection in
                                _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                            }
                            return 0
                        } catch {
                            return Self.sqlState(of: error) == Self.undefinedObjectSQLState ? 0 : 1
                        }
                    }
                    return outcome ?? 1
                }
            }
            var failures = 0
            for await failed in group { failures += failed }
            return failures
        }
    }

    /// How long phase two waits for one participant's `COMMIT PREPARED` / `ROLLBACK PREPARED`.
    static let phaseTwoTimeout: Duration = .seconds(60)

    /// `operation`'s value, or nil when it has not finished within `limit` on `clock` (it is then
    /// left running, detached: its caller stops waiting for it).
    static func within<Value: Sendable>(
        _ limit: Duration, on clock: any EngineClock, _ operation: @escaping @Sendable () async -> Value
    ) async -> Value? {
        let first = FirstOutcome<Value>()
        let work = Task { first.resolve(await operation()) }
        let timer = Task {
            try? await clock.sleep(for: limit)
            first.resolve(nil)
        }
        let value = await first.value
        timer.cancel()
        if value != nil { work.cancel() }
        return value
    }

    /// Writes a decision for `gid` unless one exists, in its own committed statement, and returns
    /// the decision that won (the first written).
    static func decide(
        _ gid: String, commit: Bool, timestamp: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let insert: PostgresQuery = """
            WITH written AS (
                INSERT INTO l2_decisions (gid, commit, ts) VALUES (\(gid), \(commit), \(timestamp))
                ON CONFLICT (gid) DO NOTHING RETURNING commit)
            SELECT commit FROM written UNION ALL SELECT commit FROM l2_decisions WHERE gid = \(gid)
            """
        var decided: Bool?
        for try await value in try await connection.query(insert, logger: logger).decode(Bool.self) {
            decided = decided ?? value
        }
        if let decided { return decided }
        // A concurrent writer committed its decision after this statement's snapshot: read it.
        try connection.ensureOpen()
        for try await value in try await connection.query(
            "SELECT commit FROM l2_decisions WHERE gid = \(gid)", logger: logger
        ).decode(Bool.self) {
            decided = value
        }
        if let decided { return decided }
        throw DecisionMissing(gid: gid)
    }

    /// No decision could be written or read for a gid (the decision log answered neither).
    struct DecisionMissing: Error, CustomStringConvertible {
        var gid: String
        var description: String { "no decision written or found for prepared transaction \(gid)" }
    }
}

/// The first of several outcomes (an operation's value, or nil for its deadline); later ones
/// are ignored.
final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var outcome: Value??
        var waiter: CheckedContinuation<Value?, Never>?
    }

    private let state = Mutex(State())

    func resolve(_ outcome: Value?) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = .some(outcome)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
    }

    var value: Value? {
        get async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let done = state.withLock { state -> Value?? in
                    if let outcome = state.outcome { return .some(outcome) }
                    state.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }
}
