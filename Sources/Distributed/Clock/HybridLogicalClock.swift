import Storage
import Synchronization

/// A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014) for one node: timestamps
/// close to physical time that never go backwards, and that order every event after every timestamp the
/// node has received. Physical time comes from the injected clock's wall time, so a test or the
/// `clock_skew` fault can skew or step one node.
///
/// A remote timestamp more than `maxOffset` ahead of this node's physical time is refused (counted, and
/// the message carrying it should be rejected) instead of dragging this clock, and with it every
/// timestamp the node issues, into the future (CockroachDB's `--max-offset`).
package final class HybridLogicalClock: Sendable {
    /// Why a remote timestamp was refused.
    package struct OffsetError: Error, Equatable, CustomStringConvertible {
        package let remote: HybridTimestamp
        /// This node's physical time (milliseconds) when it refused.
        package let localPhysicalMillis: UInt64
        package let maxOffsetMillis: UInt64

        package var description: String {
            "remote timestamp \(remote) is more than \(maxOffsetMillis) ms ahead of local physical time "
                + "\(localPhysicalMillis) ms"
        }
    }

    /// Event counts (for the node's statistics and the tests).
    package struct Counters: Sendable, Equatable {
        /// Remote timestamps refused for exceeding the maximum offset.
        package var remoteRefused: UInt64 = 0
        /// Remote timestamps that moved this clock forward.
        package var remoteAdvanced: UInt64 = 0
        /// Readings where physical time was behind the last timestamp (a step back, or a burst within one
        /// millisecond): the logical counter carried monotonicity.
        package var physicalBehind: UInt64 = 0
    }

    private struct State {
        var last = HybridTimestamp.zero
        var counters = Counters()
    }

    private let clock: any EngineClock
    package let maxOffsetMillis: UInt64
    private let state = Mutex(State())

    /// A clock reading physical time from `clock.wallNanos()`, refusing remote timestamps more than
    /// `maxOffset` ahead (500 ms by default, CockroachDB's default).
    package init(clock: any EngineClock, maxOffset: Duration = .milliseconds(500)) {
        self.clock = clock
        maxOffsetMillis = maxOffset.clampedNanoseconds / 1_000_000
    }

    private func physicalMillis() -> UInt64 { clock.wallNanos() / 1_000_000 }

    /// A timestamp for a local event (or a message about to be sent): strictly above every timestamp this
    /// clock returned or accepted before.
    package func now() -> HybridTimestamp {
        let physical = physicalMillis()
        return state.withLock { s in
            if physical > s.last.physicalMillis {
                s.last = HybridTimestamp(physicalMillis: physical, logical: 0)
            } else {
                s.counters.physicalBehind += physical < s.last.physicalMillis ? 1 : 0
                s.last = s.last.successor
            }
            return s.last
        }
    }

    /// Merges a timestamp received from another node and returns a timestamp for the receive event,
    /// strictly above both `remote` and everything this clock returned before; throws (and counts) when
    /// `remote` is more than the maximum offset ahead of physical time, leaving the clock unchanged.
    @discardableResult
    package func update(_ remote: HybridTimestamp) throws(OffsetError) -> HybridTimestamp {
        let physical = physicalMillis()
        let result: Result<HybridTimestamp, OffsetError> = state.withLock { s in
            if remote.physicalMillis > physical + maxOffsetMillis {
                s.counters.remoteRefused += 1
                return .failure(
                    OffsetError(remote: remote, localPhysicalMillis: physical, maxOffsetMillis: maxOffsetMillis))
            }
            let base = max(s.last, remote)
            if physical > base.physicalMillis {
                s.last = HybridTimestamp(physicalMillis: physical, logical: 0)
            } else {
                if remote > s.last { s.counters.remoteAdvanced += 1 }
                s.last = base.successor
            }
            return .success(s.last)
        }
        return try result.get()
    }

    /// The last timestamp returned (without issuing a new one).
    package var last: HybridTimestamp { state.withLock { $0.last } }

    package var counters: Counters { state.withLock { $0.counters } }
}
