import PropertyBased
import Storage
import Testing

@testable import Distributed

@Suite("Hybrid logical clock")
struct HybridLogicalClockTests {
    static let second: UInt64 = 1_000_000_000
    static let milli: UInt64 = 1_000_000

    @Test("the format is physical_ms << 18 | logical, ordered by physical time then logical")
    func format() {
        let t = HybridTimestamp(physicalMillis: 1_700_000_000_123, logical: 5)
        #expect(t.rawValue == 1_700_000_000_123 << 18 | 5)
        #expect(t.physicalMillis == 1_700_000_000_123)
        #expect(t.logical == 5)
        #expect(HybridTimestamp(physicalMillis: 2, logical: 0) > HybridTimestamp(physicalMillis: 1, logical: 262_143))
        #expect(
            HybridTimestamp(physicalMillis: 1, logical: 262_143).successor
                == HybridTimestamp(physicalMillis: 2, logical: 0))
    }

    @Test("now() follows physical time, and the logical counter orders events within one millisecond")
    func followsPhysicalTime() {
        let clock = ManualClock(wallStart: 1_000 * Self.second)
        let hlc = HybridLogicalClock(clock: clock)
        #expect(hlc.now() == HybridTimestamp(physicalMillis: 1_000_000, logical: 0))
        #expect(hlc.now() == HybridTimestamp(physicalMillis: 1_000_000, logical: 1))
        clock.advance(by: 3 * Self.milli)
        #expect(hlc.now() == HybridTimestamp(physicalMillis: 1_000_003, logical: 0))
    }

    @Test("a physical clock stepping back does not move timestamps back")
    func stepBack() {
        let clock = ManualClock(wallStart: 1_000 * Self.second)
        let hlc = HybridLogicalClock(clock: clock)
        let before = hlc.now()
        clock.stepWall(by: -5 * Int64(Self.second))
        let after = hlc.now()
        #expect(after > before)
        #expect(after.physicalMillis == before.physicalMillis)
        #expect(hlc.counters.physicalBehind == 1)
    }

    @Test("a remote timestamp ahead within the maximum offset moves the clock past it")
    func remoteAhead() throws {
        let clock = ManualClock(wallStart: 1_000 * Self.second)
        let hlc = HybridLogicalClock(clock: clock, maxOffset: .milliseconds(500))
        let remote = HybridTimestamp(physicalMillis: 1_000_400, logical: 7)
        let received = try hlc.update(remote)
        #expect(received == HybridTimestamp(physicalMillis: 1_000_400, logical: 8))
        #expect(hlc.now() > remote)
        #expect(hlc.counters.remoteAdvanced == 1)
    }

    @Test("a remote timestamp beyond the maximum offset is refused and counted, and does not drag the clock")
    func remoteTooFarAhead() {
        let clock = ManualClock(wallStart: 1_000 * Self.second)
        let hlc = HybridLogicalClock(clock: clock, maxOffset: .milliseconds(500))
        let before = hlc.now()
        let remote = HybridTimestamp(physicalMillis: 1_000_501, logical: 0)
        #expect(throws: HybridLogicalClock.OffsetError.self) { try hlc.update(remote) }
        #expect(hlc.counters.remoteRefused == 1)
        #expect(hlc.last == before)
        #expect(hlc.now().physicalMillis == 1_000_000)
    }

    /// One event of an interleaving: a local event, a remote timestamp at `delta` ms from local physical
    /// time, a wall-clock step by `delta` ms, or monotonic time passing.
    enum Event: Equatable {
        case local
        case remote(deltaMillis: Int)
        case step(deltaMillis: Int)
        case advance(millis: Int)

        init(kind: Int, value: Int) {
            switch kind {
            case 0: self = .local
            case 1: self = .remote(deltaMillis: value)
            case 2: self = .step(deltaMillis: value)
            default: self = .advance(millis: abs(value) % 50)
            }
        }
    }

    @Test("property: strictly monotonic under arbitrary interleavings of local events, remote updates and clock steps")
    func monotonicProperty() async {
        await propertyCheck(
            input: Gen.int(in: 0...3).array(of: 1...300), Gen.int(in: -2_000...2_000).array(of: 300)
        ) { kinds, values in
            let events = zip(kinds, values).map { Event(kind: $0, value: $1) }
            let clock = ManualClock(wallStart: 1_700_000_000 * Self.second)
            let hlc = HybridLogicalClock(clock: clock, maxOffset: .milliseconds(500))
            var previous = HybridTimestamp.zero
            var refused: UInt64 = 0
            for event in events {
                let physical = clock.wallNanos() / Self.milli
                switch event {
                case .local:
                    let t = hlc.now()
                    #expect(t > previous)
                    // Never behind physical time.
                    #expect(t.physicalMillis >= physical)
                    previous = t
                case .remote(let delta):
                    let remote = HybridTimestamp(
                        physicalMillis: UInt64(Int(physical) + delta), logical: UInt64(abs(delta) % 100))
                    do {
                        let t = try hlc.update(remote)
                        #expect(t > previous)
                        #expect(t > remote)
                        #expect(delta <= 500)
                        previous = t
                    } catch {
                        refused += 1
                        #expect(delta > 500)
                        #expect(hlc.last == previous, "a refused timestamp leaves the clock unchanged")
                    }
                case .step(let delta):
                    clock.stepWall(by: Int64(delta) * Int64(Self.milli))
                case .advance(let millis):
                    clock.advance(by: UInt64(millis) * Self.milli)
                }
            }
            #expect(hlc.counters.remoteRefused == refused)
        }
    }
}
