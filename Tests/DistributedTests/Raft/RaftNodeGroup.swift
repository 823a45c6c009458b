import Foundation
import Storage
import Synchronization

@testable import Distributed

/// A state machine that records every entry it applies (the empty no-ops of new leaders included).
final class RecordingStateMachine: RaftStateMachine {
    private let state = Mutex<[RaftEntry]>([])

    var applied: [RaftEntry] { state.withLock { $0 } }
    /// The proposals applied: entries with data.
    var commands: [RaftEntry] { applied.filter { !$0.data.isEmpty } }

    func apply(_ entry: RaftEntry) {
        state.withLock { $0.append(entry) }
    }

    func restore(_ snapshot: RaftSnapshot) {
        var reader = ByteReader(snapshot.data, from: 0)
        var entries: [RaftEntry] = []
        while !reader.isAtEnd {
            guard let term = reader.read(UInt64.self), let index = reader.read(UInt64.self),
                let count = reader.read(UInt32.self), let data = reader.readBytes(Int(count))
            else { break }
            entries.append(RaftEntry(term: term, index: index, data: data))
        }
        state.withLock { $0 = entries }
    }

    func snapshotData() -> [UInt8] {
        var bytes: [UInt8] = []
        for entry in applied {
            bytes.appendLittleEndian(entry.term)
            bytes.appendLittleEndian(entry.index)
            bytes.appendLittleEndian(UInt32(entry.data.count))
            bytes.append(contentsOf: entry.data)
        }
        return bytes
    }
}

/// A result a task sets once and the test polls while it drives the clock.
final class Outcome<Value: Sendable>: Sendable {
    private let state = Mutex<Value?>(nil)
    var value: Value? { state.withLock { $0 } }
    func set(_ value: Value) { state.withLock { $0 = value } }
}

/// A Raft group of real `RaftNode`s over the real `NetworkTransport` and `RaftLogStore`s in a temporary
/// directory, driven by a `ManualClock`: `step()` waits until every task waits on the clock or the network,
/// then moves the clock to the earliest deadline. No sleeps; conditions are polled between steps, and
/// at most one leader per term is checked at every step.
final class RaftNodeGroup {
    static let ms: UInt64 = 1_000_000

    let seed: UInt64
    let clock = ManualClock()
    let transport: NetworkTransport<RaftMessage>
    let router: RaftRouter
    let ids: [RaftNodeID]
    let peers: [RaftNodeID: NodeAddress]
    let directory: TemporaryDirectory
    let options: RaftNodeOptions
    private(set) var nodes: [RaftNodeID: RaftNode] = [:]
    private(set) var stores: [RaftNodeID: RaftLogStore] = [:]
    private(set) var machines: [RaftNodeID: RecordingStateMachine] = [:]
    private(set) var fileSystems: [RaftNodeID: FaultInjectingFileSystem] = [:]
    private var tasks: [RaftNodeID: Task<Void, Never>] = [:]
    /// Set when a node's tick loop returned (the node stopped itself after a log failure).
    private var loopEnded: [RaftNodeID: Outcome<Bool>] = [:]
    private var routerTask: Task<Void, Never>?
    /// The leader seen in each term; a second one is a violation.
    private(set) var leaders: [UInt64: RaftNodeID] = [:]
    private(set) var violations: [String] = []

    init(size: Int = 3, replication: RaftReplicationMode = .sync, seed: UInt64) throws {
        self.seed = seed
        ids = (1...size).map { RaftNodeID($0) }
        peers = Dictionary(uniqueKeysWithValues: ids.map { ($0, NodeAddress(region: 0, node: Int($0) - 1)) })
        let topology = try NetworkTopology(rttNanos: [[0]], intraRegionRTTNanos: 2 * Self.ms)
        transport = NetworkTransport(
            network: SimulatedNetwork(topology: topology, jitterNanos: Self.ms / 2, seed: seed), clock: clock)
        router = RaftRouter(transport: transport)
        directory = try TemporaryDirectory("raftnode")
        options = RaftNodeOptions(tickNanos: 10 * Self.ms, replication: replication)
        for id in ids { fileSystems[id] = FaultInjectingFileSystem() }
        let router = router
        routerTask = Task { await router.run() }
        for id in ids { try start(id) }
    }

    func config(_ id: RaftNodeID) -> RaftConfig {
        var config = RaftConfig(id: id, voters: ids)
        config.seed = seed
        return config
    }

    func logDirectory(_ id: RaftNodeID) -> String { directory.path + "/node-\(id)" }

    /// Starts (or restarts) a replica from its log directory.
    func start(_ id: RaftNodeID) throws {
        let store = try RaftLogStore(directory: logDirectory(id), fileSystem: fileSystems[id]!)
        let machine = RecordingStateMachine()
        let node = RaftNode(
            config: config(id), peers: peers, store: store, transport: transport, stateMachine: machine, clock: clock,
            options: options)
        stores[id] = store
        machines[id] = machine
        nodes[id] = node
        router.register(node)
        let ended = Outcome<Bool>()
        loopEnded[id] = ended
        tasks[id] = Task {
            await node.run()
            ended.set(true)
        }
    }

    /// Stops a replica as a crash would: it receives and sends nothing more; its log is what it wrote.
    func crash(_ id: RaftNodeID) async {
        tasks[id]?.cancel()
        await tasks[id]?.value
        tasks[id] = nil
        router.unregister(peers[id]!)
        await nodes[id]?.stop()
        nodes[id] = nil
    }

    func shutdown() async {
        for id in ids { await crash(id) }
        routerTask?.cancel()
        await routerTask?.value
        directory.remove()
    }

    /// Waits until the network loop and every running node's timer wait on the clock, and no node has
    /// inputs queued or a write in flight.
    func settle() async {
        var quiet = 0
        for _ in 0..<50_000 {
            let ticking = tasks.keys.filter { loopEnded[$0]?.value == nil }.count
            let expected = ticking + (transport.nextDeadline != nil ? 1 : 0)
            if transport.isWaiting && clock.sleeperCount >= expected && nodes.values.allSatisfy(\.isIdle) {
                quiet += 1
                if quiet >= 3 { return }
            } else {
                quiet = 0
            }
            await Task.yield()
        }
    }

    func step() async {
        await settle()
        for (id, node) in nodes {
            let status = await node.status
            guard status.role == .leader else { continue }
            if let other = leaders[status.term], other != id {
                violations.append("term \(status.term) has two leaders: \(other) and \(id)")
            }
            leaders[status.term] = id
        }
        if let deadline = clock.nextDeadline { clock.advance(to: deadline) }
    }

    /// Steps until `condition` holds; false if it did not within `maxSteps`.
    func run(maxSteps: Int = 3_000, until condition: () async -> Bool) async -> Bool {
        for _ in 0..<maxSteps {
            if await condition() { return true }
            await step()
        }
        return await condition()
    }

    /// The leader every running replica agrees on, if there is one.
    func agreedLeader() async -> RaftNodeID? {
        var leader: RaftNodeID?
        for node in nodes.values {
            let status = await node.status
            if status.stopped || status.leader == 0 { return nil }
            if let leader, leader != status.leader { return nil }
            leader = status.leader
        }
        guard let leader, let node = nodes[leader], await node.status.role == .leader else { return nil }
        return leader
    }

    func waitForLeader() async -> RaftNodeID? {
        var leader: RaftNodeID?
        _ = await run {
            leader = await agreedLeader()
            return leader != nil
        }
        return leader
    }

    /// Starts a proposal in its own task; poll the outcome between steps.
    func startProposal(_ id: RaftNodeID, _ text: String) -> Outcome<Result<UInt64, RaftNodeError>> {
        let outcome = Outcome<Result<UInt64, RaftNodeError>>()
        guard let node = nodes[id] else {
            outcome.set(.failure(.stopped))
            return outcome
        }
        Task {
            do throws(RaftNodeError) {
                outcome.set(.success(try await node.propose(Array(text.utf8))))
            } catch {
                outcome.set(.failure(error))
            }
        }
        return outcome
    }

    /// Proposes and steps until the proposal returns.
    func propose(_ id: RaftNodeID, _ text: String) async -> Result<UInt64, RaftNodeError>? {
        let outcome = startProposal(id, text)
        _ = await run { outcome.value != nil }
        return outcome.value
    }

    /// Steps until every running replica has applied at least `index`.
    func waitForApplied(_ index: UInt64) async -> Bool {
        await run {
            for node in nodes.values where await node.status.appliedIndex < index { return false }
            return true
        }
    }
}
