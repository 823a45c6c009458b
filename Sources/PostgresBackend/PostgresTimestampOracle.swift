import Distributed
import Synchronization

/// The shell of L2's timestamp oracle (`timestamps: tso`) on the PostgreSQL backend: the pure
/// ``TimestampOracle`` state machine of the home region, run in this process, whose durable
/// bound lives in the home region's primary (`l2_tso`, raised a window ahead, as TiDB's PD
/// does), so timestamps keep increasing across runs and restarts. A coordinator outside the home
/// region pays a round trip through its WAN proxy to the home primary per timestamp (the caller
/// does that: a trivial statement stands for the request message and its answer).
final class PostgresTimestampOracle: Sendable {
    /// The most bound raises one request waits for before it gives up (each raise is one write).
    static let maxPersistRounds = 4

    private let state: Mutex<TimestampOracle>

    /// An oracle starting above `persistedLimitMillis`, the bound read from the home primary.
    init(persistedLimitMillis: UInt64) {
        state = Mutex(TimestampOracle(persistedLimitMillis: persistedLimitMillis))
    }

    /// The bound could not be raised in ``maxPersistRounds`` writes.
    struct Exhausted: Error, CustomStringConvertible {
        var description: String { "the timestamp oracle's bound was not raised in \(maxPersistRounds) writes" }
    }

    /// The next timestamp at physical time `nowMillis()`, persisting a higher bound first through
    /// `persist` when the oracle asks for it.
    func next(
        nowMillis: () -> UInt64, persist: (UInt64) async throws -> Void
    ) async throws -> HybridTimestamp {
        for _ in 0..<Self.maxPersistRounds {
            let grant = state.withLock { $0.request(count: 1, nowMillis: nowMillis()) }
            switch grant {
            case .timestamps(let first, _):
                return first
            case .persistFirst(let limit):
                try await persist(limit)
                state.withLock { $0.persisted(limitMillis: limit) }
            }
        }
        throw Exhausted()
    }
}
