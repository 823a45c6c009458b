/// A timestamp shared by hybrid logical clocks and the timestamp oracle: `physical_ms << 18 | logical`, so
/// the two kinds compare directly and become L1 transaction ids and L0 `xmin`s unchanged.
package struct HybridTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Bits of the logical counter (262,144 timestamps per millisecond).
    package static let logicalBits: UInt64 = 18
    package static let maxLogical: UInt64 = (1 << logicalBits) - 1

    /// The 64-bit encoding.
    package let rawValue: UInt64

    package init(rawValue: UInt64) { self.rawValue = rawValue }

    package init(physicalMillis: UInt64, logical: UInt64) {
        precondition(logical <= Self.maxLogical, "logical counter \(logical) exceeds 18 bits")
        precondition(physicalMillis < 1 << (64 - Self.logicalBits), "physical time exceeds 46 bits")
        rawValue = physicalMillis << Self.logicalBits | logical
    }

    package static let zero = HybridTimestamp(rawValue: 0)

    /// Milliseconds since the Unix epoch.
    package var physicalMillis: UInt64 { rawValue >> Self.logicalBits }
    package var logical: UInt64 { rawValue & Self.maxLogical }

    /// The next timestamp: the same millisecond with the next logical value, or the next millisecond when
    /// the counter is exhausted.
    package var successor: HybridTimestamp {
        logical < Self.maxLogical
            ? HybridTimestamp(rawValue: rawValue + 1) : HybridTimestamp(physicalMillis: physicalMillis + 1, logical: 0)
    }

    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    package var description: String { "\(physicalMillis).\(logical)" }
}
