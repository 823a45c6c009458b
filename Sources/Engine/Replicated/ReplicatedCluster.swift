import Distributed
import Foundation
import Runtime
import Storage
import Synchronization

/// The embedded engine's regions as Raft groups (DESIGN.md, "L2"): every region has `replicas`
/// nodes, each with its own data directory, Raft log (its WAL, fsynced) and volatile storage
/// rebuilt from the log; every message between nodes crosses the simulated WAN. Leaders execute
/// transfers on their storage and commit through the log; followers apply.
final class ReplicatedCluster: Sendable {
    /// One region's group.
    final class Region: Sendable {
        let index: Int
        let name: String
        let replicas: [Replica]
        let peers: [RaftNodeID: NodeAddress]
        /// The replica believed to serve (-1: unknown).
        let leaderHint = Atomic<Int>(-1)
        /// The wall clock of this region's nodes (skewable: every replica's HLC reads it).
        let clock: SkewedClock
        /// The last timestamp this region's coordinator issued.
        let lastCoordinatorTimestamp = Atomic<UInt64>(0)
        /// Two-phase commit counters of this region's coordinator and participant.
        let twoPhase = TwoPhaseCounters()

        init(
            index: Int, name: String, replicas: [Replica], peers: [RaftNodeID: NodeAddress], clock: SkewedClock
        ) {
            self.clock = clock
            self.index = index
            self.name = name
            self.replicas = replicas
            self.peers = peers
        }
    }

    /// Counters of two-phase commit, per region (as coordinator, and as participant).
    final class TwoPhaseCounters: Sendable {
        /// Coordinated transactions committed (acknowledged), and aborted.
        let commits = Atomic<Int>(0)
        let aborts = Atomic<Int>(0)
        /// Coordinated transactions whose commit timestamp was pushed above the coordinator's
        /// timestamp (a participant had issued a higher id).
        let pushes = Atomic<Int>(0)
        /// Participant legs prepared under a pushed id.
        let participantPushes = Atomic<Int>(0)
        /// Participant legs that could not begin under any timestamp (turned into retries).
        let rejections = Atomic<Int>(0)
        /// Coordinated transactions that exhausted their retries.
        let retriesExhausted = Atomic<Int>(0)
        /// Coordinator crashes injected by the test hook.
        let coordinatorCrashes = Atomic<Int>(0)
        /// In-doubt transactions this region's participant resolved from their records.
        let inDoubtCommitted = Atomic<Int>(0)
        let inDoubtAborted = Atomic<Int>(0)
        /// Abort records this region's coordinator log got from in-doubt checks (no decision yet).
        let abortRecords = Atomic<Int>(0)

        var values: [String: Double] {
            [
                "twopc_commits": Double(commits.load(ordering: .relaxed)),
                "twopc_aborts": Double(aborts.load(ordering: .relaxed)),
                "timestamp_pushes": Double(pushes.load(ordering: .relaxed)),
                "participant_pushes": Double(participantPushes.load(ordering: .relaxed)),
                "timestamp_rejections": Double(rejections.load(ordering: .relaxed)),
                "twopc_retries_exhausted": Double(retriesExhausted.load(ordering: .relaxed)),
                "coordinator_crashes": Double(coordinatorCrashes.load(ordering: .relaxed)),
                "in_doubt_committed": Double(inDoubtCommitted.load(ordering: .relaxed)),
                "in_doubt_aborted": Double(inDoubtAborted.load(ordering: .relaxed)),
                "in_doubt_abort_records": Double(abortRecords.load(ordering: .relaxed)),
            ]
        }
    }

    /// The region has no serving leader within the wait.
    struct NoLeader: Error, CustomStringConvertible {
        let region: String
        let waited: Duration
        var description: String { "region '\(region)' elected no leader within \(waited)" }
    }

    let configuration: EngineConfiguration
    let regions: [Region]
    let router: RaftRouter
    private let routerTask: Task<Void, Never>
    /// Rebuilds replicas whose storage diverged from the log (see `ReplicaStateMachine`).
    private let monitorTask = Mutex<Task<Void, Never>?>(nil)
    /// Replicas rebuilt from their log after diverging.
    let rebuilds = Atomic<Int>(0)
    let placement = Mutex<AccountPlacement?>(nil)
    private let nodeOptions: RaftNodeOptions
    /// The coordinators' and participants' messages between regions (2PC, gateway forwards,
    /// in-doubt checks), over the same WAN as the Raft groups.
    let twoPhaseNetwork: RegionNetwork
    /// The timestamp oracle and the regions' batchers (`timestamps: tso`).
    let oracle: TimestampService
    /// Batch commit's grouping of transactions across regions (nil when batch commit is off).
    let twoPhaseBatcher: TwoPhaseBatcher?
    private let twoPhaseTask: Task<Void, Never>
    /// Checks prepared transactions that waited too long (their coordinator may have failed).
    private let resolverTask = Mutex<Task<Void, Never>?>(nil)
    /// A participant resolves a transaction still prepared after this long from its coordinator's
    /// record (aborting a missing one).
    let inDoubtAfter = Mutex<Duration>(.seconds(5))
    /// Test hook: crash the coordinator at a step of a transaction (return true).
    let coordinatorCrashHook = Mutex<CrashHook?>(nil)

    /// A coordinator crash hook, boxed (a closure stored straight in a `Mutex` is re-abstracted on
    /// every `withLock`, growing a chain of thunks).
    final class CrashHook: Sendable {
        let body: @Sendable (TwoPhaseStep, GlobalTransaction) -> Bool
        init(_ body: @escaping @Sendable (TwoPhaseStep, GlobalTransaction) -> Bool) { self.body = body }
    }

    /// Sets (or, with nil, clears) the coordinator crash hook.
    func setCoordinatorCrashHook(_ body: (@Sendable (TwoPhaseStep, GlobalTransaction) -> Bool)?) {
        let box = body.map(CrashHook.init)
        coordinatorCrashHook.withLock { $0 = box }
    }

    /// Entries applied between two log compactions of a replica.
    static let compactEvery: UInt64 = 200_000
    /// How long a transfer or the audit waits for a region to elect a serving leader: a bound on
    /// a hang (a region that lost its quorum), far above any election on a loaded machine.
    static let leaderWait: Duration = .seconds(120)
    /// A transfer is redirected at most this many times (leader changes under it).
    static let maxRedirects = 8

    init(configuration: EngineConfiguration) throws {
        self.configuration = configuration
        let regionCount = configuration.regions.count
        guard regionCount <= TimestampTags.maxRegions else {
            throw UnsupportedConfiguration(
                "the embedded engine tells at most \(TimestampTags.maxRegions) regions' timestamps apart; the spec "
                    + "declares \(regionCount)")
        }
        var rtt = [[UInt64]](repeating: [UInt64](repeating: 0, count: regionCount), count: regionCount)
        for a in 0..<regionCount {
            for b in 0..<regionCount where a != b {
                rtt[a][b] = configuration.network.rtt(a, b).clampedNanoseconds
            }
        }
        let topology: NetworkTopology
        do {
            topology = try NetworkTopology(
                rttNanos: rtt, intraRegionRTTNanos: configuration.network.intraRegionRTT.clampedNanoseconds)
        } catch {
            throw UnsupportedConfiguration("the round-trip matrix is not square and symmetric: \(error)")
        }
        let network = SimulatedNetwork<RaftMessage>(
            topology: topology, jitterNanos: configuration.network.jitter.clampedNanoseconds, seed: configuration.seed)
        let transport = NetworkTransport(network: network, clock: configuration.clock)
        router = RaftRouter(transport: transport)
        let router = router
        routerTask = Task { await router.run() }
        let regionNetwork = RegionNetwork(
            transport: NetworkTransport(
                network: SimulatedNetwork<RegionEnvelope>(
                    topology: topology, jitterNanos: configuration.network.jitter.clampedNanoseconds,
                    seed: configuration.seed &+ 0x5EED),
                clock: configuration.clock))
        twoPhaseNetwork = regionNetwork
        oracle = TimestampService(regions: regionCount)
        twoPhaseBatcher = configuration.batch.map {
            TwoPhaseBatcher(window: $0.window, maxSize: $0.maxSize, clock: configuration.clock)
        }
        twoPhaseTask = Task { await regionNetwork.run() }
        nodeOptions = RaftNodeOptions(
            tickNanos: 10_000_000, replication: configuration.replication == .async ? .async : .sync)
        regions = configuration.regions.enumerated().map { r, region in
            var peers: [RaftNodeID: NodeAddress] = [:]
            let replicas = (0..<region.replicas).map { i in
                let id = NodeID(region: region.name, replica: i)
                let address = NodeAddress(region: r, node: i)
                peers[RaftNodeID(i + 1)] = address
                return Replica(
                    id: id, raftID: RaftNodeID(i + 1), address: address,
                    directory: configuration.dataDirectory + "/\(id)")
            }
            return Region(
                index: r, name: region.name, replicas: replicas, peers: peers,
                clock: SkewedClock(base: configuration.clock))
        }
        do {
            for region in regions {
                for replica in region.replicas { try start(replica, in: region) }
                // Replica 0 campaigns at once: a known first leader, without waiting a timeout.
                if let first = region.replicas.first?.incarnation?.node { first.campaign() }
            }
        } catch {
            routerTask.cancel()
            twoPhaseTask.cancel()
            throw error
        }
        regionNetwork.setHandler { [weak self] region, from, request in
            guard let self else { return .unavailable("the cluster is gone") }
            return await self.serve(region: region, from: from, request)
        }
        startMonitor()
    }

    /// Under async replication a deposed leader's storage may hold commits the log lost: such a
    /// replica is crashed and restarted from its snapshot and log (as a deposed PostgreSQL primary
    /// is rewound), and counted. And every region's leader resolves the transactions prepared
    /// there for longer than `inDoubtAfter`.
    func startMonitor() {
        let resolver = Task { [self] in
            while !Task.isCancelled {
                do { try await clock.sleep(for: .milliseconds(200)) } catch { return }
                let after = inDoubtAfter.withLock { $0 }
                for region in regions { await resolveInDoubt(region: region.index, olderThan: after) }
            }
        }
        resolverTask.withLock { $0 = resolver }
        let task = Task { [self] in
            while !Task.isCancelled {
                do { try await clock.sleep(for: .milliseconds(50)) } catch { return }
                for region in regions {
                    for replica in region.replicas where replica.incarnation?.machine.diverged == true {
                        await replica.crash(router: router)
                        if (try? start(replica, in: region)) != nil {
                            rebuilds.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        monitorTask.withLock { $0 = task }
    }

    /// Stops the monitor (before the audit crashes and restarts every replica itself).
    func stopMonitor() async {
        for take in [
            {
                self.monitorTask.withLock { t in
                    defer { t = nil }
                    return t
                }
            },
            {
                self.resolverTask.withLock { t in
                    defer { t = nil }
                    return t
                }
            },
        ] {
            let task = take()
            task?.cancel()
            await task?.value
        }
    }

    private func config(_ replica: Replica, in region: Region) -> RaftConfig {
        var config = RaftConfig(id: replica.raftID, voters: region.replicas.map(\.raftID))
        config.seed = configuration.seed &+ UInt64(region.index) &* 1_000_003 &+ UInt64(replica.raftID)
        // Ticks of 10 ms: heartbeats every 10 ms, elections after 500-1000 ms without a leader (a
        // loaded two-core machine can stall a node for tens of milliseconds; etcd's defaults are
        // 100 ms and 1 s).
        config.electionTicks = 50
        return config
    }

    func start(_ replica: Replica, in region: Region) throws {
        try replica.start(
            config: config(replica, in: region), peers: region.peers, router: router, configuration: configuration,
            wallClock: region.clock,
            options: nodeOptions, compactEvery: Self.compactEvery)
    }

    var clock: any EngineClock { configuration.clock }

    func stopRouter() {
        routerTask.cancel()
        twoPhaseNetwork.stop()
        twoPhaseTask.cancel()
    }

    // MARK: - Leaders

    /// The serving leader of `region`, waiting (polling each millisecond) for an election.
    func leader(of region: Region, within wait: Duration = leaderWait) async throws -> ReplicaIncarnation {
        let deadline = clock.nowNanos() &+ wait.clampedNanoseconds
        while true {
            let hint = region.leaderHint.load(ordering: .relaxed)
            if hint >= 0, let incarnation = region.replicas[hint].incarnation, incarnation.isServing {
                return incarnation
            }
            for (index, replica) in region.replicas.enumerated() {
                guard let incarnation = replica.incarnation, incarnation.isServing else { continue }
                region.leaderHint.store(index, ordering: .relaxed)
                return incarnation
            }
            guard clock.nowNanos() < deadline else { throw NoLeader(region: region.name, waited: wait) }
            try await clock.sleep(for: .milliseconds(1))
        }
    }

    // MARK: - Load

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        let placement = AccountPlacement(accounts: count, regions: regions.count)
        self.placement.withLock { $0 = placement }
        let row = Row(balance: initialBalance, payload: [UInt8](repeating: 0, count: configuration.payloadBytes))
        let chunk = max(configuration.loadBatchSize, 1 << 16)
        var loaded = 0
        for region in regions {
            let range = placement.accounts(in: region.index)
            var next = range.lowerBound
            var lastIndex: UInt64 = 0
            var leader = try await self.leader(of: region)
            try await leader.executor.pool.prewarm()
            while next < range.upperBound {
                let end = min(range.upperBound, next + chunk)
                let command = ReplicaCommand.load(
                    xid: leader.nextTransactionID(), keys: AccountID(next)..<AccountID(end), row: row)
                do {
                    lastIndex = try await leader.node.propose(command.encoded())
                } catch {
                    // A leader change under the load: the chunk may or may not have committed;
                    // find out from the new leader's storage before going on.
                    leader = try await self.leader(of: region)
                    guard leader.storage.committedRow(AccountID(next)) != nil else { continue }
                }
                next = end
                progress(loaded + (next - range.lowerBound))
            }
            // Under async replication a proposal returns before it applies: transfers must find
            // the accounts in the leader's storage.
            while leader.machine.applied.index < lastIndex { try await clock.sleep(for: .milliseconds(1)) }
            loaded += range.count
            progress(loaded)
        }
        return loaded
    }
}
