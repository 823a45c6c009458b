/// The timestamp oracle of the home region as a pure state machine (the shell persists and answers): it
/// hands out strictly increasing `HybridTimestamp`s in batches, and never one at or above the upper bound
/// it has persisted. The bound is saved a window ahead of physical time (as TiDB's PD does), so serving
/// needs a disk write only once per window, and an oracle that restarts, or a new one elected in its
/// place, starts above the old bound and never goes backwards, whatever the clocks did meanwhile.
package struct TimestampOracle: Sendable {
    /// The answer to a request for timestamps.
    package enum Grant: Sendable, Equatable {
        /// `count` consecutive timestamps starting at `first` (all in one millisecond).
        case timestamps(first: HybridTimestamp, count: Int)
        /// The bound must first be raised: persist `limitMillis`, call `persisted(limitMillis:)`, retry.
        case persistFirst(limitMillis: UInt64)
    }

    /// How far ahead of the served physical time the bound is saved (milliseconds; PD uses 3 s).
    package let windowMillis: UInt64
    /// The most timestamps one request may take (a bound on a batch; at most a millisecond's logicals).
    package let maxBatch: Int

    /// The physical millisecond and logical counter of the last timestamp served.
    private var physicalMillis: UInt64
    private var logical: UInt64
    /// The durable bound: every timestamp served is below `limitMillis << 18`.
    package private(set) var limitMillis: UInt64
    /// A bound being written (requested through `persistFirst` or `persistAhead`).
    package private(set) var pendingLimitMillis: UInt64?

    /// An oracle starting (or restarting, or taking over) from the last durable bound `persistedLimitMillis`
    /// (0 for a new cluster). It serves nothing until it has persisted a new bound above its first
    /// timestamp.
    package init(persistedLimitMillis: UInt64, windowMillis: UInt64 = 3_000, maxBatch: Int = 4_096) {
        precondition(windowMillis > 0, "the window must be positive")
        precondition(maxBatch > 0 && UInt64(maxBatch) <= HybridTimestamp.maxLogical, "a batch fits in a millisecond")
        self.windowMillis = windowMillis
        self.maxBatch = maxBatch
        // Everything served before is below the old bound: start at it.
        physicalMillis = persistedLimitMillis
        logical = 0
        limitMillis = persistedLimitMillis
    }

    /// Serves `count` timestamps at physical time `nowMillis` (the oracle node's wall clock). Time that
    /// stepped back is ignored: timestamps keep increasing from the last one served.
    package mutating func request(count: Int, nowMillis: UInt64) -> Grant {
        precondition(count > 0 && count <= maxBatch, "a request takes 1...maxBatch timestamps")
        var physical = physicalMillis
        var next = logical + 1
        if nowMillis > physical {
            physical = nowMillis
            next = 1
        }
        if next + UInt64(count) - 1 > HybridTimestamp.maxLogical {
            // This millisecond is used up: borrow the next one (as PD does when logical overflows).
            physical += 1
            next = 1
        }
        guard physical < limitMillis else {
            return .persistFirst(limitMillis: raisedLimit(for: physical))
        }
        physicalMillis = physical
        logical = next + UInt64(count) - 1
        return .timestamps(first: HybridTimestamp(physicalMillis: physical, logical: next), count: count)
    }

    /// A new bound to persist in the background before serving blocks on it (when less than a third of
    /// the window is left), or nil.
    package mutating func persistAhead(nowMillis: UInt64) -> UInt64? {
        let physical = max(physicalMillis, nowMillis)
        guard pendingLimitMillis == nil, physical + windowMillis / 3 >= limitMillis else { return nil }
        return raisedLimit(for: physical)
    }

    private mutating func raisedLimit(for physical: UInt64) -> UInt64 {
        let limit = max(physical + windowMillis, pendingLimitMillis ?? 0)
        pendingLimitMillis = limit
        return limit
    }

    /// The shell reports that `limitMillis` is durable.
    package mutating func persisted(limitMillis persisted: UInt64) {
        limitMillis = max(limitMillis, persisted)
        if let pending = pendingLimitMillis, pending <= persisted { pendingLimitMillis = nil }
    }

    /// The last timestamp served (zero before the first).
    package var lastServed: HybridTimestamp {
        logical == 0 ? .zero : HybridTimestamp(physicalMillis: physicalMillis, logical: logical)
    }
}
