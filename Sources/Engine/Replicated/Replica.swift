import Distributed
import Foundation
import Runtime
import Storage
import Synchronization

/// How a leader's runtime commits: its transaction's write set becomes one entry of the region's
/// Raft log (the replicas' WAL), acknowledged per the replication mode.
final class ReplicaLog: CommitReplication {
    let node: RaftNode
    let machine: ReplicaStateMachine
    let clock: any EngineClock
    let replication: RaftReplicationMode

    init(node: RaftNode, machine: ReplicaStateMachine, clock: any EngineClock, replication: RaftReplicationMode) {
        self.node = node
        self.machine = machine
        self.clock = clock
        self.replication = replication
    }

    func replicateCommit(_ xid: TransactionID, writes: [ReplicatedWrite]) async throws(TransactionError)
        -> ReplicationReceipt
    {
        try await replicate(xid, ReplicaCommand.commit(xid: xid, writes: writes)) { index throws(StorageError) in
            try machine.commitAhead(xid, index: index)
        }
    }

    /// Replicates participant `xid`'s prepare entry (its write set under `global`); returns once
    /// acknowledged, with storage holding the transaction prepared.
    func replicatePrepare(_ xid: TransactionID, global: GlobalTransaction, writes: [ReplicatedWrite])
        async throws(TransactionError) -> ReplicationReceipt
    {
        try await replicate(xid, ReplicaCommand.prepare(xid: xid, global: global, writes: writes)) {
            index throws(StorageError) in
            try machine.prepareAhead(xid, global: global, index: index)
        }
    }

    /// Proposes `command` for local transaction `xid`; under async replication `ahead` applies it
    /// to storage once the leader's log has it.
    private func replicate(
        _ xid: TransactionID, _ command: ReplicaCommand, ahead: (UInt64) throws(StorageError) -> Void
    ) async throws(TransactionError) -> ReplicationReceipt {
        let start = clock.nowNanos()
        machine.willPropose(xid)
        let receipt: RaftProposalReceipt
        do {
            receipt = try await node.proposeWithReceipt(command.encoded())
        } catch {
            machine.proposalFailed(xid)
            throw TransactionError(
                .adminShutdown, "the region's log did not commit the transaction: \(error)", xid: xid)
        }
        if replication == .async {
            do { try ahead(receipt.index) } catch {
                throw TransactionError(.adminShutdown, "the replica could not apply in storage: \(error)", xid: xid)
            }
        }
        let total = clock.nowNanos() &- start
        // The commit waits for the leader's own write and for a quorum, in parallel: the time up
        // to the leader's write is its log append and fsync (L0), the rest waiting for followers
        // (L2). Under async replication there is no rest.
        // A quorum of followers can commit the entry before the leader's own write ends: then the
        // leader's leg was not the slowest, and the whole wait is replication.
        let log = receipt.persistedAtNanos.map { $0 > start ? min($0 - start, total) : 0 } ?? 0
        return ReplicationReceipt(logNanos: log, replicationNanos: total - log)
    }
}

/// One run of a replica, from its start (or restart) to its crash or stop: storage rebuilt from the
/// Raft snapshot and log, the Raft node, and the leader's L1.
final class ReplicaIncarnation: Sendable {
    let region: Int
    let storage: StorageEngine
    let machine: ReplicaStateMachine
    let node: RaftNode
    let log: ReplicaLog
    let executor: NodeExecutor
    let hlc: HybridLogicalClock
    private let tasks: Mutex<[Task<Void, Never>]>

    init(
        region: Int, storage: StorageEngine, machine: ReplicaStateMachine, node: RaftNode, log: ReplicaLog,
        executor: NodeExecutor, hlc: HybridLogicalClock, tasks: [Task<Void, Never>]
    ) {
        self.region = region
        self.storage = storage
        self.machine = machine
        self.node = node
        self.log = log
        self.executor = executor
        self.hlc = hlc
        self.tasks = Mutex(tasks)
    }

    /// Leads its group and has applied an entry of its own term (so everything committed before
    /// is in its storage): it may execute transactions.
    var isServing: Bool {
        let status = node.publishedStatus
        return status.role == .leader && !status.stopped && machine.applied.term == status.term
            && !machine.diverged
    }

    /// A fresh transaction id (an L2 timestamp from this replica's HLC, above every id seen).
    func nextTransactionID() -> TransactionID {
        TimestampTags.atLeast(
            max(hlc.now().rawValue, storage.highestTransactionID &+ 1), tag: TimestampTags.local(region))
    }

    /// Stops everything as a crash would: the node sends and writes nothing more; what its log
    /// holds is what a restart finds. Storage is volatile (rebuilt from the log).
    func crash() async {
        let running = tasks.withLock { t -> [Task<Void, Never>] in
            defer { t = [] }
            return t
        }
        for task in running { task.cancel() }
        await node.stop()
        // Lock waits on this node fail now (its clients' connections drop), not at their timeout.
        executor.runtime.locks.shutdown()
        for task in running { await task.value }
        await executor.pool.close()
        storage.crash()
    }
}

/// A replica of a region: its identity, directories and current incarnation.
final class Replica: Sendable {
    let id: NodeID
    let raftID: RaftNodeID
    let address: NodeAddress
    let directory: String
    private let current = Mutex<ReplicaIncarnation?>(nil)

    init(id: NodeID, raftID: RaftNodeID, address: NodeAddress, directory: String) {
        self.id = id
        self.raftID = raftID
        self.address = address
        self.directory = directory
    }

    var incarnation: ReplicaIncarnation? { current.withLock { $0 } }

    var raftDirectory: String { directory + "/raft" }
    var storageDirectory: String { directory + "/storage" }

    /// Starts (or restarts) the replica: storage is rebuilt from scratch, the Raft node loads its
    /// log (restoring its snapshot and applying committed entries as the group reports them).
    func start(
        config: RaftConfig, peers: [RaftNodeID: NodeAddress], router: RaftRouter, configuration: EngineConfiguration,
        wallClock: any EngineClock, options: RaftNodeOptions, compactEvery: UInt64
    ) throws {
        try? FileManager.default.removeItem(atPath: storageDirectory)
        let clock = configuration.clock
        let region = address.region
        let hlc = HybridLogicalClock(clock: wallClock)
        let storage = try StorageEngine(
            directory: storageDirectory,
            options: StorageOptions(
                durability: .none, checkpointWALBytes: 0, clock: clock, writeAheadLog: false,
                transactionIDs: { highest in
                    TimestampTags.atLeast(max(highest &+ 1, hlc.now().rawValue), tag: TimestampTags.local(region))
                }))
        let machine = ReplicaStateMachine(storage: storage, clock: clock)
        let store: RaftLogStore
        do { store = try RaftLogStore(directory: raftDirectory, clock: clock) } catch {
            storage.crash()
            throw error
        }
        let node = RaftNode(
            config: config, peers: peers, store: store, transport: router.transport, stateMachine: machine,
            clock: clock, options: options)
        let log = ReplicaLog(node: node, machine: machine, clock: clock, replication: options.replication)
        let executor = NodeExecutor(storage: storage, configuration: configuration, replication: log)
        let runtime = executor.runtime
        machine.onPreparedFinished { xid, committed in runtime.finishReplicatedPrepared(xid, committed: committed) }
        machine.onPreparedInstalled { xid, keys in runtime.locks.adopt(keys, for: xid) }
        router.register(node)
        let ticker = Task { await node.run() }
        // The log is compacted into a snapshot of storage every `compactEvery` applied entries,
        // bounding its disk use and a restart's replay.
        let compactor = Task {
            var compactedAt: UInt64 = 0
            while !Task.isCancelled {
                do { try await clock.sleep(for: .seconds(1)) } catch { return }
                let applied = machine.applied.index
                guard applied >= compactedAt &+ compactEvery else { continue }
                if (try? await node.compactLog()) != nil { compactedAt = applied }
            }
        }
        current.withLock {
            $0 = ReplicaIncarnation(
                region: region, storage: storage, machine: machine, node: node, log: log, executor: executor,
                hlc: hlc, tasks: [ticker, compactor])
        }
    }

    /// Crashes the current incarnation (if any) and unregisters it from the network.
    func crash(router: RaftRouter) async {
        let running = current.withLock { c -> ReplicaIncarnation? in
            defer { c = nil }
            return c
        }
        router.unregister(address)
        await running?.crash()
    }
}
