import Dispatch
import Storage
import Synchronization

/// The replicated state machine a `RaftNode` drives: committed entries arrive in log order, each once per
/// incarnation of the node (a restarted node restores the latest snapshot and applies the rest again).
/// Called on the node's executor; it must not block for long.
package protocol RaftStateMachine: Sendable {
    /// Applies one committed entry (no-op entries of new leaders included: their `data` is empty).
    func apply(_ entry: RaftEntry)
    /// Replaces the whole state with the snapshot's (from the leader, or this replica's own at restart).
    func restore(_ snapshot: RaftSnapshot)
    /// The serialized state as of the last applied entry (compaction stores it in the snapshot).
    func snapshotData() -> [UInt8]
}

/// When a proposal is acknowledged to its client.
package enum RaftReplicationMode: String, Sendable, Hashable, CaseIterable {
    /// Once the entry is committed (durable on a quorum, the leader's fsync in parallel with the
    /// followers') and applied on the leader.
    case sync
    /// Once the leader alone has made the entry durable; followers catch up in the background. A leader
    /// lost before a quorum persisted the entry can lose it (counted as `acknowledgedLost` where seen).
    case async
}

/// How a `RaftNode` runs.
package struct RaftNodeOptions: Sendable {
    /// The period of the core's ticks on the node's clock.
    package var tickNanos: UInt64 = 10_000_000
    package var replication: RaftReplicationMode = .sync

    package init(tickNanos: UInt64 = 10_000_000, replication: RaftReplicationMode = .sync) {
        self.tickNanos = tickNanos
        self.replication = replication
    }
}

/// Why a proposal (or a command) failed.
package enum RaftNodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// This replica does not lead: redirect the client to `leader` (at `address`), when known.
    case notLeader(leader: RaftNodeID?, address: NodeAddress?)
    /// The core refused the proposal (a leadership transfer, too many uncommitted entries, an unknown node).
    case refused(RaftError)
    /// The log at the proposal's index now holds another leader's entry: the proposal was not committed.
    case superseded(index: UInt64)
    /// The entry was replaced by a snapshot before this replica saw it applied: it may or may not be
    /// committed.
    case outcomeUnknown(index: UInt64)
    /// The node's log failed and the node stopped (fail-stop); a pending proposal may or may not commit
    /// through other replicas. Restart the node from its log.
    case logFailed(RaftLogStoreError)
    /// The node was stopped; a pending proposal may or may not commit through other replicas.
    case stopped

    package var description: String {
        switch self {
        case .notLeader(let leader, let address):
            "not the leader (leader: \(leader.map { "\($0)" } ?? "unknown")\(address.map { " at \($0)" } ?? ""))"
        case .refused(let error): "refused: \(error)"
        case .superseded(let index): "entry \(index) was superseded by another leader's entry"
        case .outcomeUnknown(let index): "the outcome of entry \(index) is unknown"
        case .logFailed(let error): "the node stopped: \(error)"
        case .stopped: "the node is stopped"
        }
    }
}

/// What a client or a test observes of a node.
package struct RaftNodeStatus: Sendable, Equatable {
    package var id: RaftNodeID
    package var term: UInt64
    package var role: RaftRole
    package var leader: RaftNodeID
    package var commitIndex: UInt64
    package var appliedIndex: UInt64
    package var lastIndex: UInt64
    /// The log failed (or the node was stopped): it does nothing more until restarted.
    package var stopped: Bool
}

/// The counters of one replica (per region and per replica in reports).
package struct RaftNodeStatistics: Sendable, Equatable {
    package var messagesSent: UInt64 = 0
    package var messagesReceived: UInt64 = 0
    package var bytesSent: UInt64 = 0
    package var bytesReceived: UInt64 = 0
    /// Entries written to the log (each once) and applied to the state machine.
    package var entriesPersisted: UInt64 = 0
    package var entriesApplied: UInt64 = 0
    /// `RaftReady`s persisted with an fsync, and the fsyncs of the log (appends and compactions).
    package var appendBatches: UInt64 = 0
    package var fsyncs: UInt64 = 0
    /// Time in the append fsyncs (mean = this / appendBatches: the replica's fsync latency).
    package var appendFsyncNanos: UInt64 = 0
    package var logBytesWritten: UInt64 = 0
    /// Elections this replica started, and times the known leader changed to another replica.
    package var elections: UInt64 = 0
    package var leaderChanges: UInt64 = 0
    /// Proposals acknowledged to their clients (committed under sync, persisted by the leader under async).
    package var proposalsAcknowledged: UInt64 = 0
    /// Entries acknowledged under async replication that this replica later saw replaced by another
    /// leader's entry: acknowledged writes the failover lost.
    package var acknowledgedLost: UInt64 = 0
}

/// One replica of a Raft group: the shell around the pure core (`Raft`). Its inputs (ticks on its clock,
/// messages the router delivers, client proposals, commands) go into an inbox that one loop drains in
/// order; for each `RaftReady` the loop sends the messages that may leave before the write (a leader's
/// appends: its fsync runs in parallel with its followers'), persists the entries and hard state with one
/// fsync (`RaftLogStore.append`, on the node's own I/O queue, off the cooperative pool), sends the rest
/// (votes and acknowledgements promise durability), restores a snapshot and applies committed entries to
/// the state machine, then calls `advance`.
///
/// Group commit: inputs arriving while a write is in flight wait in the inbox, so every proposal that
/// arrives meanwhile shares the next append batch (one fsync). A proposal returns once its entry is
/// applied here (sync replication) or persisted here (async), and fails with `notLeader` (naming the
/// leader) on a follower.
///
/// Fail-stop: when the log fails, the node stops; pending and later proposals fail with `logFailed`, and
/// the replica must be restarted from its log (`RaftLogStore`) as a new `RaftNode`.
package actor RaftNode {
    package nonisolated let id: RaftNodeID
    package nonisolated let address: NodeAddress
    package nonisolated let options: RaftNodeOptions

    private var raft: Raft
    private let store: RaftLogStore
    private let transport: NetworkTransport<RaftMessage>
    private let peers: [RaftNodeID: NodeAddress]
    private let stateMachine: any RaftStateMachine
    private let clock: any EngineClock
    /// Where the log's blocking writes and fsyncs run.
    private let io: DispatchQueue

    private enum Input: Sendable {
        case message(RaftMessage)
        case tick
        case propose([UInt8], RaftPromise<RaftProposalReceipt>)
        case campaign
        case transfer(RaftNodeID, RaftPromise<Void>)
        case compact(RaftPromise<RaftSnapshot>)
    }

    private struct Pending {
        let term: UInt64
        let promise: RaftPromise<RaftProposalReceipt>
        /// When this replica's own write of the entry became durable (clock nanoseconds).
        var persistedAt: UInt64?
    }

    /// The inputs not yet taken by the loop, and whether the loop is scheduled or running. Inputs are
    /// handed over without entering the actor (the router delivers a message, a client proposes, without
    /// a hop onto the node's executor); the loop takes them in order.
    private let mailbox = Mutex<(inputs: [Input], draining: Bool)>(([], false))
    /// Proposals waiting for their entry to commit (sync) or persist (async), by index.
    private var pending: [UInt64: Pending] = [:]
    /// Entries acknowledged under async replication and not yet seen applied, by index: their term.
    private var acknowledgedUnapplied: [UInt64: UInt64] = [:]
    private var failure: RaftNodeError?
    private var counters = RaftNodeStatistics()
    /// `status` and `statistics` as of the last Ready processed, readable without the actor.
    private let published: Mutex<(status: RaftNodeStatus, statistics: RaftNodeStatistics)>
    private var knownLeader: RaftNodeID = 0

    /// A replica starting, or restarting, from `store` (whatever it loaded): the state machine restores
    /// the persisted snapshot, and the committed entries after it are applied again as the core reports
    /// them. `peers` maps every voter (this one included) to its network address.
    package init(
        config: RaftConfig, peers: [RaftNodeID: NodeAddress], store: RaftLogStore,
        transport: NetworkTransport<RaftMessage>, stateMachine: any RaftStateMachine,
        clock: any EngineClock = SystemClock.shared, options: RaftNodeOptions = RaftNodeOptions()
    ) {
        precondition(config.voters.allSatisfy { peers[$0] != nil }, "every voter needs an address")
        id = config.id
        address = peers[config.id]!
        self.options = options
        self.peers = peers
        self.store = store
        self.transport = transport
        self.stateMachine = stateMachine
        self.clock = clock
        io = DispatchQueue(label: "raft-log-\(config.id)")
        let persisted = store.loaded
        if persisted.snapshot.index > 0 { stateMachine.restore(persisted.snapshot) }
        raft = Raft(config: config, persisted: persisted, applied: persisted.snapshot.index)
        published = Mutex(
            (
                RaftNodeStatus(
                    id: config.id, term: persisted.hardState.term, role: .follower, leader: 0,
                    commitIndex: persisted.snapshot.index, appliedIndex: persisted.snapshot.index,
                    lastIndex: persisted.snapshot.index, stopped: false),
                RaftNodeStatistics()
            ))
    }

    /// `status` as of the last Ready this node processed (or its start), without waiting for the actor.
    package nonisolated var publishedStatus: RaftNodeStatus { published.withLock { $0.status } }

    /// `statistics` as of the last Ready this node processed, without waiting for the actor.
    package nonisolated var publishedStatistics: RaftNodeStatistics { published.withLock { $0.statistics } }

    private func publish() {
        let now = (status, statistics)
        published.withLock { $0 = now }
    }

    // MARK: - Observations

    package var status: RaftNodeStatus {
        RaftNodeStatus(
            id: id, term: raft.term, role: raft.role, leader: raft.leader, commitIndex: raft.commitIndex,
            appliedIndex: raft.appliedIndex, lastIndex: raft.lastIndex, stopped: failure != nil)
    }

    package var statistics: RaftNodeStatistics {
        var s = counters
        let log = store.statistics
        s.entriesPersisted = log.entriesWritten
        s.appendBatches = log.appendBatches
        s.fsyncs = log.fsyncs
        s.appendFsyncNanos = log.appendFsyncNanos
        s.logBytesWritten = log.bytesWritten
        s.elections = raft.counters.electionsStarted
        return s
    }

    /// The entry at `index` in this replica's log (nil when compacted or absent).
    package func entry(at index: UInt64) -> RaftEntry? { raft.entry(at: index) }

    /// Nothing is queued, being written or applied (tests driving a `ManualClock` wait for this).
    package nonisolated var isIdle: Bool { mailbox.withLock { !$0.draining } }

    // MARK: - Inputs

    /// Ticks the core every `options.tickNanos` on the clock until the task is cancelled or the node stops.
    package func run() async {
        var next = clock.nowNanos() &+ options.tickNanos
        while !Task.isCancelled {
            do { try await clock.sleep(untilNanos: next) } catch { return }
            guard failure == nil else { return }
            // Ticks missed while the process was starved are dropped, not delivered in a burst (as
            // a ticker does): a burst would run a leader's quorum check or a follower's election
            // timeout out before the messages that arrived meanwhile are processed.
            let now = clock.nowNanos()
            next &+= options.tickNanos
            if next <= now { next = now &+ options.tickNanos }
            submit(.tick)
        }
    }

    /// One tick now (for hosts with their own timer).
    package nonisolated func tick() { submit(.tick) }

    /// A message from another replica (the router calls this as the network delivers it). Returns at once:
    /// the message waits in the inbox while an earlier write is in flight.
    package nonisolated func receive(_ message: RaftMessage) {
        submit(.message(message))
    }

    /// Replicates `data`; returns its log index once it is committed and applied here (sync replication)
    /// or persisted here (async). On a follower it fails with `notLeader`, naming the leader. A proposal
    /// whose leader is deposed meanwhile waits until this replica applies its index (then it succeeds, or
    /// fails with `superseded` when another leader's entry took the index) or the node stops.
    @discardableResult
    package nonisolated func propose(_ data: [UInt8]) async throws(RaftNodeError) -> UInt64 {
        try await proposeWithReceipt(data).index
    }

    /// `propose`, also saying when this replica's own write of the entry became durable: the time
    /// before it is the leader's log write (L0), the time after it waiting for followers (L2).
    /// Called without entering the actor: a stopped node's loop refuses the proposal.
    package nonisolated func proposeWithReceipt(_ data: [UInt8]) async throws(RaftNodeError) -> RaftProposalReceipt {
        let promise = RaftPromise<RaftProposalReceipt>()
        submit(.propose(data, promise))
        return try await promise.value.get()
    }

    /// Starts an election now.
    package nonisolated func campaign() { submit(.campaign) }

    /// Hands leadership to `target`; returns once the core has started the transfer.
    package func transferLeadership(to target: RaftNodeID) async throws(RaftNodeError) {
        if let failure { throw failure }
        let promise = RaftPromise<Void>()
        submit(.transfer(target, promise))
        try await promise.value.get()
    }

    /// Compacts the log through the applied index into a snapshot of the state machine; returns it once
    /// the log's compaction is durable.
    @discardableResult
    package func compactLog() async throws(RaftNodeError) -> RaftSnapshot {
        if let failure { throw failure }
        let promise = RaftPromise<RaftSnapshot>()
        submit(.compact(promise))
        return try await promise.value.get()
    }

    /// Stops the node (a crash, as far as the group can tell): pending proposals fail with `stopped`, the
    /// log is closed (a write in flight finishes or fails first), and every later call fails. What the log
    /// holds is what a restart finds.
    package func stop() {
        fail(.stopped)
        store.close()
        publish()
    }

    // MARK: - The loop

    private nonisolated func submit(_ input: Input) {
        let start = mailbox.withLock { mailbox -> Bool in
            mailbox.inputs.append(input)
            guard !mailbox.draining else { return false }
            mailbox.draining = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let inputs = mailbox.withLock { mailbox -> [Input] in
                defer { mailbox.inputs = [] }
                return mailbox.inputs
            }
            if let failure {
                // A stopped node refuses what was handed to it.
                for input in inputs { Self.reject(input, failure) }
            } else {
                for (position, input) in inputs.enumerated() {
                    if case .compact(let promise) = input {
                        // Compaction writes outside any Ready: first finish the Readies the inputs before it made.
                        await processReadies()
                        await compact(promise)
                        mailbox.withLock { $0.inputs.insert(contentsOf: inputs[(position + 1)...], at: 0) }
                        break
                    }
                    handle(input)
                }
                await processReadies()
            }
            publish()
            let done = mailbox.withLock { mailbox -> Bool in
                guard mailbox.inputs.isEmpty else { return false }
                mailbox.draining = false
                return true
            }
            if done { return }
        }
    }

    private func handle(_ input: Input) {
        switch input {
        case .message(let message):
            counters.messagesReceived += 1
            counters.bytesReceived += UInt64(message.byteSize)
            raft.step(message)
        case .tick:
            raft.tick()
        case .campaign:
            raft.campaign()
        case .propose(let data, let promise):
            do {
                let index = try raft.propose(data)
                pending[index] = Pending(term: raft.term, promise: promise)
            } catch {
                if case .notLeader(let leader) = error {
                    promise.resolve(.failure(.notLeader(leader: leader, address: leader.flatMap { peers[$0] })))
                } else {
                    promise.resolve(.failure(.refused(error)))
                }
            }
        case .transfer(let target, let promise):
            do {
                try raft.transferLeadership(to: target)
                promise.resolve(.success(()))
            } catch {
                promise.resolve(.failure(.refused(error)))
            }
        case .compact:
            preconditionFailure("compaction is handled by the loop")
        }
    }

    private static func reject(_ input: Input, _ error: RaftNodeError) {
        switch input {
        case .propose(_, let promise): promise.resolve(.failure(error))
        case .transfer(_, let promise): promise.resolve(.failure(error))
        case .compact(let promise): promise.resolve(.failure(error))
        case .message, .tick, .campaign: break
        }
    }

    private func processReadies() async {
        while failure == nil && raft.hasReady {
            let ready = raft.ready()
            if let soft = ready.softState, soft.leader != 0, soft.leader != knownLeader {
                if knownLeader != 0 { counters.leaderChanges += 1 }
                knownLeader = soft.leader
            }
            // 1. A leader's appends go out now: its fsync runs in parallel with its followers'.
            for message in ready.messages where message.maySendBeforePersisting { send(message) }
            // 2. One write and (when the ready asks) one fsync, off the cooperative pool, started now.
            //    Under async replication the proposals it makes durable are acknowledged from the log's
            //    queue as soon as the fsync returns, not after a hop back onto this actor (their
            //    bookkeeping follows in `acknowledgePersisted`).
            let acknowledgeOnWrite: [(index: UInt64, promise: RaftPromise<RaftProposalReceipt>)] =
                options.replication == .async
                ? ready.entries.compactMap { entry in
                    guard let waiting = pending[entry.index], waiting.term == entry.term else { return nil }
                    return (entry.index, waiting.promise)
                } : []
            let write = startOnLogQueue { [store, clock] () throws(RaftLogStoreError) in
                _ = try store.append(ready)
                guard !acknowledgeOnWrite.isEmpty else { return }
                let persistedAt = clock.nowNanos()
                for (index, promise) in acknowledgeOnWrite {
                    promise.resolve(.success(RaftProposalReceipt(index: index, persistedAtNanos: persistedAt)))
                }
            }
            // 3. Committed entries are durable on a quorum already: they are applied while this
            //    replica's write runs (etcd applies in parallel with persisting), so a commit does not
            //    wait for the next batch's fsync. A snapshot in the ready is restored first, after its write.
            let applyWhileWriting = ready.snapshot == nil
            if applyWhileWriting {
                for entry in ready.committedEntries { apply(entry) }
            }
            let written = await write.value
            guard failure == nil else { return }
            if case .failure(let error) = written {
                fail(error)
                return
            }
            let persistedAt = clock.nowNanos()
            for entry in ready.entries where pending[entry.index]?.term == entry.term {
                pending[entry.index]?.persistedAt = persistedAt
            }
            if options.replication == .async { acknowledgePersisted(ready.entries) }
            // 4. Votes and acknowledgements promise durability: only now.
            for message in ready.messages where !message.maySendBeforePersisting { send(message) }
            // 5. A snapshot, and the entries after it.
            if !applyWhileWriting {
                if let snapshot = ready.snapshot { restore(snapshot) }
                for entry in ready.committedEntries { apply(entry) }
            }
            raft.advance(ready)
            publish()
        }
    }

    private func compact(_ promise: RaftPromise<RaftSnapshot>) async {
        guard failure == nil else {
            promise.resolve(.failure(failure ?? .stopped))
            return
        }
        let snapshot = raft.compact(through: raft.appliedIndex, data: stateMachine.snapshotData())
        let written = await onLogQueue { [store] () throws(RaftLogStoreError) in try store.compact(to: snapshot) }
        if let failure {
            promise.resolve(.failure(failure))
        } else if case .failure(let error) = written {
            fail(.logFailed(error))
            promise.resolve(.failure(.logFailed(error)))
        } else {
            promise.resolve(.success(snapshot))
        }
    }

    /// Starts blocking log I/O on the node's queue; its outcome (a log failure as `logFailed`) is awaited later.
    private func startOnLogQueue(
        _ body: @escaping @Sendable () throws(RaftLogStoreError) -> Void
    ) -> RaftPromise<Void> {
        let promise = RaftPromise<Void>()
        io.async {
            do throws(RaftLogStoreError) {
                try body()
                promise.resolve(.success(()))
            } catch {
                promise.resolve(.failure(.logFailed(error)))
            }
        }
        return promise
    }

    /// Runs blocking log I/O on the node's queue and waits for it without holding a pool thread.
    private func onLogQueue(
        _ body: @escaping @Sendable () throws(RaftLogStoreError) -> Void
    ) async -> Result<Void, RaftLogStoreError> {
        await withCheckedContinuation { continuation in
            io.async {
                do throws(RaftLogStoreError) {
                    try body()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
    }

    private func send(_ message: RaftMessage) {
        guard let to = peers[message.to] else { return }
        let bytes = message.byteSize
        counters.messagesSent += 1
        counters.bytesSent += UInt64(bytes)
        transport.send(message, bytes: bytes, from: address, to: to)
    }

    /// Async replication: a proposal is acknowledged once the leader's own write of it is durable.
    private func acknowledgePersisted(_ entries: [RaftEntry]) {
        for entry in entries {
            guard let waiting = pending[entry.index], waiting.term == entry.term else { continue }
            pending[entry.index] = nil
            acknowledgedUnapplied[entry.index] = entry.term
            counters.proposalsAcknowledged += 1
            waiting.promise.resolve(
                .success(RaftProposalReceipt(index: entry.index, persistedAtNanos: waiting.persistedAt)))
        }
    }

    private func apply(_ entry: RaftEntry) {
        stateMachine.apply(entry)
        counters.entriesApplied += 1
        if let term = acknowledgedUnapplied.removeValue(forKey: entry.index), term != entry.term {
            counters.acknowledgedLost += 1
        }
        guard let waiting = pending.removeValue(forKey: entry.index) else { return }
        if waiting.term == entry.term {
            counters.proposalsAcknowledged += 1
            waiting.promise.resolve(
                .success(RaftProposalReceipt(index: entry.index, persistedAtNanos: waiting.persistedAt)))
        } else {
            waiting.promise.resolve(.failure(.superseded(index: entry.index)))
        }
    }

    private func restore(_ snapshot: RaftSnapshot) {
        stateMachine.restore(snapshot)
        for index in pending.keys where index <= snapshot.index {
            pending.removeValue(forKey: index)?.promise.resolve(.failure(.outcomeUnknown(index: index)))
        }
        acknowledgedUnapplied = acknowledgedUnapplied.filter { $0.key > snapshot.index }
    }

    private func fail(_ error: RaftNodeError) {
        if failure == nil { failure = error }
        let waiting = pending
        pending = [:]
        for (_, p) in waiting { p.promise.resolve(.failure(failure ?? error)) }
        let queued = mailbox.withLock { mailbox -> [Input] in
            defer { mailbox.inputs = [] }
            return mailbox.inputs
        }
        for input in queued { Self.reject(input, failure ?? error) }
    }
}

/// An acknowledged proposal: its log index, and when the proposing replica's own write of it was
/// durable (nil if it never wrote it itself: a snapshot or another path delivered it).
package struct RaftProposalReceipt: Sendable, Hashable {
    package var index: UInt64
    package var persistedAtNanos: UInt64?
}

/// An outcome set once; the waiter may start waiting before or after it is set.
final class RaftPromise<Value: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Result<Value, RaftNodeError>, Never>?)
        case done(Result<Value, RaftNodeError>)
    }

    private let state = Mutex(State.waiting(nil))

    func resolve(_ result: Result<Value, RaftNodeError>) {
        let continuation = state.withLock { s -> CheckedContinuation<Result<Value, RaftNodeError>, Never>? in
            guard case .waiting(let continuation) = s else { return nil }
            s = .done(result)
            return continuation
        }
        continuation?.resume(returning: result)
    }

    var value: Result<Value, RaftNodeError> {
        get async {
            await withCheckedContinuation { continuation in
                let done = state.withLock { s -> Result<Value, RaftNodeError>? in
                    if case .done(let result) = s { return result }
                    s = .waiting(continuation)
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }
}

/// Delivers a group's messages from the transport to its nodes: one loop for every node on the transport.
/// A node that is not registered (crashed, not yet restarted) loses the messages sent to it.
package final class RaftRouter: Sendable {
    package let transport: NetworkTransport<RaftMessage>
    private let nodes = Mutex<[NodeAddress: RaftNode]>([:])

    package init(transport: NetworkTransport<RaftMessage>) {
        self.transport = transport
    }

    package func register(_ node: RaftNode) {
        nodes.withLock { $0[node.address] = node }
    }

    package func unregister(_ address: NodeAddress) {
        _ = nodes.withLock { $0.removeValue(forKey: address) }
    }

    /// Delivers messages as they fall due until the task is cancelled.
    package func run() async {
        await transport.run { [self] deliveries in
            for delivery in deliveries {
                guard let node = self.nodes.withLock({ $0[delivery.to] }) else { continue }
                node.receive(delivery.message)
            }
        }
    }
}
