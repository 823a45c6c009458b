import Distributed
import Runtime
import Storage
import Synchronization

/// The timestamp oracle of `timestamps: tso` (DESIGN.md, "Timestamps"): one `TimestampOracle` at
/// the home region's leader, its upper bound persisted a window ahead through the home region's
/// Raft log (so a new leader starts above anything served), and one `TimestampBatcher` per region,
/// so concurrent transactions of a region share one round trip to the home region.
///
/// Oracle timestamps carry their own issuer tag (`TimestampTags.oracle`), so they never collide
/// with a region's local ids or its coordinator's.
final class TimestampService: Sendable {
    private struct Served {
        /// The leader incarnation the oracle runs on (a new leader starts a new oracle).
        var leader: ObjectIdentifier
        var oracle: TimestampOracle
    }

    private let served = Mutex<Served?>(nil)
    /// Per region: the batcher and the waiters of the request in flight.
    private let batchers: Mutex<[TimestampBatcher<CheckedContinuation<TransactionID?, Never>>]>

    init(regions: Int) {
        batchers = Mutex(Array(repeating: TimestampBatcher(maxBatch: Self.maxBatch), count: regions))
    }

    /// Timestamps one round trip may carry (each takes 32 of the oracle's logical values: the tag).
    static let maxBatch = 120

    /// Serves `count` tagged timestamps at the oracle on `leader` (the home region's), persisting a
    /// raised bound through its log first when the window is used up.
    func serve(count: Int, leader: ReplicaIncarnation, wallMillis: @Sendable () -> UInt64) async -> [TransactionID]? {
        let span = UInt64(TimestampTags.mask + 1)
        while true {
            let grant = served.withLock { s -> TimestampOracle.Grant in
                let id = ObjectIdentifier(leader)
                if s?.leader != id {
                    s = Served(
                        leader: id, oracle: TimestampOracle(persistedLimitMillis: leader.machine.oracleLimitMillis))
                }
                return s!.oracle.request(count: count * Int(span), nowMillis: wallMillis())
            }
            switch grant {
            case .timestamps(let first, _):
                var ids: [TransactionID] = []
                var next = TimestampTags.atLeast(first.rawValue, tag: TimestampTags.oracle)
                for _ in 0..<count {
                    ids.append(next)
                    next &+= span
                }
                persistAhead(leader: leader, wallMillis: wallMillis())
                return ids
            case .persistFirst(let limit):
                guard await persist(limit, leader: leader) else { return nil }
            }
        }
    }

    private func persistAhead(leader: ReplicaIncarnation, wallMillis: UInt64) {
        let limit = served.withLock { $0?.oracle.persistAhead(nowMillis: wallMillis) }
        guard let limit else { return }
        Task { _ = await self.persist(limit, leader: leader) }
    }

    private func persist(_ limit: UInt64, leader: ReplicaIncarnation) async -> Bool {
        do {
            _ = try await leader.node.proposeWithReceipt(ReplicaCommand.oracleLimit(millis: limit).encoded())
        } catch {
            return false
        }
        served.withLock { s in
            if s?.leader == ObjectIdentifier(leader) { s?.oracle.persisted(limitMillis: limit) }
        }
        return true
    }

    /// One timestamp for a transaction of `region`: waits with the region's other requests for one
    /// round trip (`fetch`, which asks the oracle for `count`).
    func timestamp(region: Int, fetch: @escaping @Sendable (Int) async -> [TransactionID]?) async -> TransactionID? {
        await withCheckedContinuation { continuation in
            let action = batchers.withLock { $0[region].enqueue(continuation) }
            switch action {
            case nil: continuation.resume(returning: nil)
            case .wait: break
            case .send(let count): Task { await self.roundTrip(region: region, count: count, fetch: fetch) }
            }
        }
    }

    private typealias Waiter = CheckedContinuation<TransactionID?, Never>

    private func roundTrip(region: Int, count: Int, fetch: @escaping @Sendable (Int) async -> [TransactionID]?) async {
        var count = count
        while true {
            let ids = await fetch(count)
            guard let ids, ids.count == count else {
                // The oracle is unreachable: fail every waiter rather than retry for ever.
                let waiting: [Waiter] = batchers.withLock { all in all[region].drain() }
                for waiter in waiting { waiter.resume(returning: nil) }
                return
            }
            let result: (served: [(Waiter, HybridTimestamp)], next: TimestampBatcher<Waiter>.Action?) =
                batchers.withLock { all in all[region].received(first: HybridTimestamp(rawValue: ids[0]), count: count)
                }
            // The batcher counts consecutive values; the tagged ids are spaced: hand them out by position.
            for (position, entry) in result.served.enumerated() { entry.0.resume(returning: ids[position]) }
            guard case .send(let more)? = result.next else { return }
            count = more
        }
    }
}

extension ReplicatedCluster {
    /// A transaction timestamp for work coordinated in region `region`: the coordinator leader's
    /// HLC (`timestamps: hlc`), or the oracle in the home region (`tso`: a round trip from any
    /// other region, shared by the region's concurrent requests). Nil if the oracle is unreachable.
    func transactionTimestamp(region: Int, leader: ReplicaIncarnation) async -> TransactionID? {
        switch configuration.timestamps {
        case .hlc:
            return coordinatorTimestamp(region: regions[region], hlc: leader.hlc)
        case .tso:
            let network = twoPhaseNetwork
            let id = await oracle.timestamp(region: region) { count in
                let reply = await network.call(from: region, to: Self.homeRegion, .timestamps(count: count))
                guard case .timestamps(let ids) = reply else { return nil }
                return ids
            }
            if let id { _ = try? leader.hlc.update(HybridTimestamp(rawValue: id)) }
            return id
        }
    }

    /// Under `timestamps: tso`, the transaction ids of a one-phase transfer at `leader`: the oracle's
    /// timestamp, or a push above what the leader issued (counted); nil under `hlc` (the leader's
    /// storage takes its HLC).
    func oracleTransactionIDs(region: Int, leader: ReplicaIncarnation)
        -> (@Sendable (Int) async throws(TransactionError) -> TransactionID?)?
    {
        guard configuration.timestamps == .tso else { return nil }
        let counters = regions[region].twoPhase
        return { [self] _ throws(TransactionError) in
            guard let timestamp = await transactionTimestamp(region: region, leader: leader) else {
                throw TransactionError(.adminShutdown, "the timestamp oracle in the home region is unreachable")
            }
            guard timestamp <= leader.storage.highestTransactionID else { return timestamp }
            counters.participantPushes.add(1, ordering: .relaxed)
            return leader.nextTransactionID()
        }
    }

    /// Serves a region's request for `count` oracle timestamps (at the home region's leader).
    func serveTimestamps(count: Int) async -> RegionReply {
        guard let leader = try? await self.leader(of: regions[Self.homeRegion]) else {
            return .unavailable("the home region has no leader")
        }
        let clock = regions[Self.homeRegion].clock
        guard
            let ids = await oracle.serve(
                count: max(1, min(count, TimestampService.maxBatch)), leader: leader,
                wallMillis: { clock.wallNanos() / 1_000_000 })
        else {
            return .unavailable("the oracle could not persist its bound")
        }
        return .timestamps(ids)
    }
}
