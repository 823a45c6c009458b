import Storage
import Synchronization

/// Batch commit: independent transaction bodies submitted within a window (at most `maxSize`
/// of them, or `window` after the first, whichever comes first) run in one storage transaction
/// that commits with one WAL record and one fsync.
///
/// Each member still gets its own result. A member's writes are buffered and applied only when
/// its body succeeded and it holds every row it writes, so a member that fails (a business
/// rejection, a lock timeout, a serialization conflict) leaves nothing behind in the shared
/// transaction and does not fail the batch: its caller gets `runAlone` and re-runs it on its
/// own with the normal retry policy. If the shared commit itself fails, every member runs alone.
public final class BatchCommitter<Value: Sendable>: Sendable {
    /// The bounds of a batch.
    public struct Options: Sendable, Hashable {
        /// Most members in one batch.
        public var maxSize: Int
        /// Longest a member waits for the batch to fill.
        public var window: Duration
        /// Close a batch at once when no batch is executing (as WAL group commit's leader does):
        /// members then wait only while an earlier batch commits, never for an idle window, and
        /// `maxSize` and `window` remain the bounds.
        public var closeWhenIdle: Bool

        /// Creates options.
        public init(maxSize: Int, window: Duration, closeWhenIdle: Bool = false) {
            precondition(maxSize >= 1, "a batch holds at least one member")
            self.maxSize = maxSize
            self.window = window
            self.closeWhenIdle = closeWhenIdle
        }
    }

    /// Batches that may execute at once with `closeWhenIdle`: one gathering members' work while
    /// another waits for its fsync keeps both the CPU and the disk busy.
    static var maxInFlight: Int { 2 }

    /// A member's body.
    public typealias Body = @Sendable (BatchMember) async throws -> Value

    /// What became of a submitted member.
    public struct Outcome: Sendable {
        /// The member's value (committed with the batch), or its own error: a business rejection
        /// (final), or the `TransactionError` that made it leave the batch.
        public var result: Result<Value, any Error>
        /// The member did not commit and should be run on its own (with retries).
        public var runAlone: Bool
        /// Spans: lock waits and storage access of the member's own operations, the shared
        /// commit's WAL flush, and the rest of its wait as `batchWait`.
        public var trace: Trace
        /// Wall time from `submit` to the result.
        public var endToEndNanos: UInt64
        /// Members in the batch this one ran in.
        public var batchSize: Int
        /// The shared transaction's id (every member's writes carry it as `xmin`).
        public var xid: TransactionID
    }

    private struct Pending {
        let body: Body
        let submitted: UInt64
        let continuation: UnsafeContinuation<Outcome, Never>
    }

    private enum Action {
        case run([Pending])
        case arm(UInt64)
        case none
    }

    private struct State {
        var pending: [Pending] = []
        var generation: UInt64 = 0
        /// Batches executing now.
        var inFlight = 0
        var statistics = BatchStatistics()
    }

    private let manager: TransactionManager
    private let isolation: IsolationLevel
    /// The clock of batch windows and spans (the transaction manager's).
    private var clock: any EngineClock { manager.clock }
    /// The bounds.
    public let options: Options
    private let state = Mutex(State())

    /// Creates a batcher committing through `manager` at `isolation`.
    public init(manager: TransactionManager, isolation: IsolationLevel, options: Options) {
        self.manager = manager
        self.isolation = isolation
        self.options = options
    }

    /// Submits a member and waits for its outcome.
    public func submit(_ body: @escaping Body) async -> Outcome {
        let submitted = clock.nowNanos()
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Outcome, Never>) in
            let action = state.withLock { s -> Action in
                s.pending.append(Pending(body: body, submitted: submitted, continuation: continuation))
                if s.pending.count >= options.maxSize {
                    s.statistics.fullBatches += 1
                    return .run(takePending(&s))
                }
                if options.closeWhenIdle && s.inFlight < BatchCommitter.maxInFlight {
                    s.statistics.idleBatches += 1
                    return .run(takePending(&s))
                }
                return s.pending.count == 1 ? .arm(s.generation) : .none
            }
            switch action {
            case .run(let members): Task { await self.executeAndDrain(members) }
            case .arm(let generation):
                let window = options.window
                Task {
                    try? await self.clock.sleep(for: window)
                    let members = self.state.withLock { s -> [Pending] in
                        guard s.generation == generation, !s.pending.isEmpty else { return [] }
                        s.statistics.windowBatches += 1
                        return self.takePending(&s)
                    }
                    if !members.isEmpty { await self.executeAndDrain(members) }
                }
            case .none: break
            }
        }
    }

    /// Closes the pending batch (the caller executes it).
    private func takePending(_ s: inout State) -> [Pending] {
        s.generation += 1
        s.inFlight += 1
        defer { s.pending = [] }
        return s.pending
    }

    /// Executes a batch; with `closeWhenIdle`, then runs whatever gathered meanwhile once no
    /// batch is executing.
    private func executeAndDrain(_ first: [Pending]) async {
        var members = first
        while true {
            await execute(members)
            let next = state.withLock { s -> [Pending] in
                s.inFlight -= 1
                guard options.closeWhenIdle, s.inFlight < BatchCommitter.maxInFlight, !s.pending.isEmpty else {
                    return []
                }
                s.statistics.idleBatches += 1
                return takePending(&s)
            }
            if next.isEmpty { return }
            members = next
        }
    }

    /// Counters: batches, members, members that ran alone.
    public var statistics: BatchStatistics { state.withLock { $0.statistics } }

    private func execute(_ members: [Pending]) async {
        let transaction: Transaction
        do {
            transaction = try manager.begin(isolation)
        } catch {
            for member in members {
                member.continuation.resume(returning: alone(member, error, size: members.count, xid: 0))
            }
            return
        }
        var results: [(Pending, Result<Value, any Error>, Trace, runAlone: Bool, busy: UInt64)] = []
        var fatal: (any Error)?
        for member in members {
            let start = clock.nowNanos()
            let context = BatchMember(transaction: transaction)
            do {
                let value = try await member.body(context)
                try await context.apply()
                results.append((member, .success(value), context.trace, false, clock.nowNanos() &- start))
            } catch let error as BatchMember.ApplyFailure {
                fatal = error.underlying
                results.append((member, .failure(error.underlying), context.trace, true, clock.nowNanos() &- start))
                break
            } catch let error as TransactionError {
                results.append((member, .failure(error), context.trace, true, clock.nowNanos() &- start))
            } catch {
                results.append((member, .failure(error), context.trace, false, clock.nowNanos() &- start))
            }
        }
        let remaining = members.dropFirst(results.count)
        let commitStart = clock.nowNanos()
        let traceBeforeCommit = transaction.trace
        if fatal == nil {
            do { try await manager.commit(transaction) } catch { fatal = error }
        } else {
            manager.abort(transaction)
        }
        let commitNanos = clock.nowNanos() &- commitStart
        // The commit's own spans (WAL flush; a replica's log write and replication wait), with
        // anything they leave unattributed counted as the flush, as before replication existed.
        var commitTrace = transaction.trace.subtracting(traceBeforeCommit)
        let attributed = SpanKind.allCases.reduce(UInt64(0)) { $0 &+ commitTrace[$1] }
        commitTrace.add(.walFlush, commitNanos > attributed ? commitNanos - attributed : 0)
        let xid = transaction.xid
        state.withLock { s in
            s.statistics.batches += 1
            s.statistics.members += UInt64(members.count)
            if fatal != nil { s.statistics.failedBatches += 1 }
        }
        for (member, result, memberTrace, runAlone, busy) in results {
            var trace = memberTrace
            let total = clock.nowNanos() &- member.submitted
            var outcome = Outcome(
                result: result, runAlone: runAlone, trace: trace, endToEndNanos: total, batchSize: members.count,
                xid: xid)
            if let fatal, case .success = result {
                outcome.result = .failure(fatal)
                outcome.runAlone = true
            }
            trace.add(commitTrace)
            let own = busy &+ commitNanos
            trace.add(.batchWait, total > own ? total - own : 0)
            // The member's own work outside storage is its `execution` (self time), so that the
            // layers add up to `endToEndNanos`.
            trace.closeExecution(endToEndNanos: total)
            outcome.trace = trace
            if outcome.runAlone { state.withLock { $0.statistics.ranAlone += 1 } }
            member.continuation.resume(returning: outcome)
        }
        for member in remaining {
            member.continuation.resume(
                returning: alone(
                    member, fatal ?? TransactionError(.internalError, "batch ended"), size: members.count, xid: xid))
        }
    }

    private func alone(_ member: Pending, _ error: any Error, size: Int, xid: TransactionID) -> Outcome {
        state.withLock { $0.statistics.ranAlone += 1 }
        let total = clock.nowNanos() &- member.submitted
        var trace = Trace()
        trace.add(.batchWait, total)
        return Outcome(
            result: .failure(error), runAlone: true, trace: trace, endToEndNanos: total, batchSize: size, xid: xid)
    }
}

/// Counters of a batch committer.
public struct BatchStatistics: Sendable, Hashable {
    /// Batches executed.
    public var batches: UInt64 = 0
    /// Members submitted to them.
    public var members: UInt64 = 0
    /// Batches closed because they were full.
    public var fullBatches: UInt64 = 0
    /// Batches closed by the window.
    public var windowBatches: UInt64 = 0
    /// Batches closed because no batch was executing (`closeWhenIdle`).
    public var idleBatches: UInt64 = 0
    /// Batches whose shared transaction failed (every member ran alone).
    public var failedBatches: UInt64 = 0
    /// Members sent to run alone.
    public var ranAlone: UInt64 = 0
}

/// One member of a commit batch: reads through the shared transaction, buffers its writes and
/// applies them only once its body succeeded and it holds all their rows.
public final class BatchMember: TransactionContext {
    struct ApplyFailure: Error {
        let underlying: TransactionError
    }

    let transaction: Transaction
    private let baseline: Trace
    private let writes = Mutex<[(AccountID, Row)]>([])

    init(transaction: Transaction) {
        self.transaction = transaction
        self.baseline = transaction.trace
    }

    /// The shared transaction's id.
    public var xid: TransactionID { transaction.xid }

    var trace: Trace { transaction.trace.subtracting(baseline) }

    /// Reads a row: this member's own buffered write, else the shared transaction's view.
    public func read(_ key: AccountID) async throws(TransactionError) -> Row? {
        if let own = writes.withLock({ $0.last(where: { $0.0 == key })?.1 }) { return own }
        return try await transaction.read(key, poison: false)
    }

    /// Locks the row in the shared transaction, then reads it.
    public func readForUpdate(_ key: AccountID, wait: LockWait?) async throws(TransactionError) -> Row? {
        try await transaction.lockRow(key, wait: wait, poison: false)
        return try await read(key)
    }

    /// Buffers a write; it reaches storage when the member completes.
    public func write(_ key: AccountID, _ row: Row, wait: LockWait?) async throws(TransactionError) {
        writes.withLock { $0.append((key, row)) }
    }

    /// Locks every row written (a failure here leaves nothing written), then writes them.
    func apply() async throws {
        let pending = writes.withLock { $0 }
        for (key, _) in pending { try await transaction.lockRow(key, wait: nil, poison: false) }
        for (key, row) in pending {
            do { try await transaction.write(key, row, wait: nil) } catch {
                throw ApplyFailure(underlying: error)
            }
        }
    }
}
