import NIOCore

/// One direction of an emulated WAN link, as a pure state machine (no I/O, no clock of its own): what
/// arrives at time `t` leaves at `t + delay + jitter`, never before anything that arrived earlier.
///
/// The shell (`ForwardingHandler`) stamps arrivals with its event loop's time, asks which items are due,
/// writes them, and reports when the far side has taken them (`completed`). The line only decides.
///
/// Like a TCP link with latency, it is a pipe, not a round trip: items that arrive while earlier ones
/// are still delayed are delayed in parallel with them, so throughput is bounded by the window
/// (`maxBytesInFlight`), not by the delay.
///
/// Invariants, kept by `admit` and `popDue`:
/// - release times are non-decreasing in arrival order (bytes leave in the order they came);
/// - every item's release time is at least its arrival time plus `delayNanos` (jitter is never negative);
/// - `bytesInFlight` counts bytes admitted and not yet `completed`, and never goes negative.
struct DelayLine<Item> {
    /// An item that is due, with its size and the delay it was given (release time minus arrival).
    struct Release {
        var item: Item
        var bytes: Int
        var delayNanos: UInt64
    }

    private struct Pending {
        var item: Item
        var bytes: Int
        var arrivalNanos: UInt64
        var releaseNanos: UInt64
    }

    /// The fixed one-way delay.
    let delayNanos: UInt64
    /// The bound of the uniform jitter added to each item: `0...jitterNanos`.
    let jitterNanos: UInt64
    /// The window: reading stops when this many bytes are in flight and resumes at half of it.
    let maxBytesInFlight: Int

    private var random: JitterRandom
    private var queue = CircularBuffer<Pending>()
    private var lastReleaseNanos: UInt64 = 0
    /// Bytes admitted and not yet taken by the far side (queued here, or written and unacknowledged).
    private(set) var bytesInFlight = 0
    /// The most bytes ever in flight at once.
    private(set) var maxBytesInFlightSeen = 0
    /// Whether the source should stop reading (set at the window, cleared at half of it).
    private(set) var isPaused = false

    init(delayNanos: UInt64, jitterNanos: UInt64, maxBytesInFlight: Int, seed: UInt64) {
        precondition(maxBytesInFlight > 0, "a window of \(maxBytesInFlight) bytes could never pass data")
        self.delayNanos = delayNanos
        self.jitterNanos = jitterNanos
        self.maxBytesInFlight = maxBytesInFlight
        self.random = JitterRandom(seed: seed)
    }

    /// Items waiting for their release time.
    var queuedCount: Int { queue.count }

    /// The release time of the next item, if any.
    var nextReleaseNanos: UInt64? { queue.first?.releaseNanos }

    /// Queues `item` that arrived at `arrivalNanos`; returns its release time and whether reading
    /// should pause now (true only on the transition into the paused state).
    mutating func admit(_ item: Item, bytes: Int, arrivalNanos: UInt64) -> (releaseNanos: UInt64, pause: Bool) {
        precondition(bytes >= 0, "negative size \(bytes)")
        let jitter = jitterNanos == 0 ? 0 : UInt64.random(in: 0...jitterNanos, using: &random)
        let (earliest, overflow) = arrivalNanos.addingReportingOverflow(delayNanos &+ jitter)
        // Order is kept by never releasing before the previous item.
        let release = max(overflow ? .max : earliest, lastReleaseNanos)
        lastReleaseNanos = release
        queue.append(Pending(item: item, bytes: bytes, arrivalNanos: arrivalNanos, releaseNanos: release))
        bytesInFlight += bytes
        maxBytesInFlightSeen = max(maxBytesInFlightSeen, bytesInFlight)
        let pause = !isPaused && bytesInFlight >= maxBytesInFlight
        if pause { isPaused = true }
        return (release, pause)
    }

    /// Removes and returns the next item if its release time is at or before `nowNanos`.
    mutating func popDue(nowNanos: UInt64) -> Release? {
        guard let head = queue.first, head.releaseNanos <= nowNanos else { return nil }
        queue.removeFirst()
        return Release(item: head.item, bytes: head.bytes, delayNanos: head.releaseNanos - head.arrivalNanos)
    }

    /// Records that the far side took `bytes` of a released item (or that it was dropped); returns true
    /// when reading should resume (only on the transition out of the paused state).
    mutating func completed(bytes: Int) -> Bool {
        precondition(bytes >= 0 && bytes <= bytesInFlight, "completed \(bytes) of \(bytesInFlight) bytes in flight")
        bytesInFlight -= bytes
        guard isPaused, bytesInFlight <= maxBytesInFlight / 2 else { return false }
        isPaused = false
        return true
    }

    /// Drops every queued item (the link is gone); returns the bytes dropped, which are no longer in flight.
    mutating func removeAll() -> Int {
        var dropped = 0
        while let pending = queue.popFirst() { dropped += pending.bytes }
        bytesInFlight -= dropped
        return dropped
    }
}

/// SplitMix64 (Steele, Lea and Flood), the project's seeded generator, here so that this target needs
/// only swift-nio. Jitter of a connection's direction replays from the proxy's seed.
struct JitterRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
