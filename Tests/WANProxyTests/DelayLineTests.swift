import Testing

@testable import WANProxy

@Suite("Delay line: one direction of an emulated link")
struct DelayLineTests {
    private static let ms: UInt64 = 1_000_000

    @Test("every item leaves at arrival + delay + its jitter, never before an earlier item", arguments: [1, 7, 42])
    func releaseTimesKeepOrderAndLowerBound(seed: UInt64) {
        var line = DelayLine<Int>(
            delayNanos: 5 * Self.ms, jitterNanos: 3 * Self.ms, maxBytesInFlight: 1 << 30, seed: seed)
        var arrivals = JitterRandom(seed: seed ^ 0xABCD)
        var now: UInt64 = 1_000
        var previousRelease: UInt64 = 0
        var releases: [(arrival: UInt64, release: UInt64)] = []
        for index in 0..<2_000 {
            now += arrivals.next() % (2 * Self.ms)
            let (release, _) = line.admit(index, bytes: 10, arrivalNanos: now)
            #expect(release >= now + 5 * Self.ms, "seed \(seed): item \(index) released before arrival + delay")
            #expect(release >= previousRelease, "seed \(seed): item \(index) overtakes its predecessor")
            // Either its own jitter decided (at most delay + jitter), or it waited for its predecessor.
            #expect(release <= now + 8 * Self.ms || release == previousRelease, "seed \(seed): item \(index)")
            previousRelease = release
            releases.append((now, release))
        }
        // Draining at increasing times yields the items in arrival order, none before its release time.
        var next = 0
        var clock: UInt64 = 0
        while next < releases.count {
            clock += Self.ms / 2
            while let due = line.popDue(nowNanos: clock) {
                #expect(due.item == next, "seed \(seed)")
                #expect(releases[next].release <= clock, "seed \(seed)")
                #expect(due.delayNanos == releases[next].release - releases[next].arrival, "seed \(seed)")
                next += 1
            }
        }
        #expect(line.queuedCount == 0)
    }

    @Test("the same seed gives the same jitter; another seed gives other jitter")
    func jitterReplaysFromSeed() {
        func releases(seed: UInt64) -> [UInt64] {
            var line = DelayLine<Int>(delayNanos: 0, jitterNanos: 10 * Self.ms, maxBytesInFlight: 1 << 30, seed: seed)
            // Arrivals far apart, so no item waits for its predecessor and each release shows its jitter.
            return (0..<100).map { line.admit($0, bytes: 1, arrivalNanos: UInt64($0) * 100 * Self.ms).releaseNanos }
        }
        #expect(releases(seed: 9) == releases(seed: 9))
        #expect(releases(seed: 9) != releases(seed: 10))
    }

    @Test("a pipe, not a round trip: items that arrive 1 ms apart leave 1 ms apart, each after the delay")
    func delayDoesNotSerialise() {
        var line = DelayLine<Int>(delayNanos: 50 * Self.ms, jitterNanos: 0, maxBytesInFlight: 1 << 30, seed: 0)
        for index in 0..<100 { _ = line.admit(index, bytes: 1_000, arrivalNanos: UInt64(index) * Self.ms) }
        #expect(line.popDue(nowNanos: 50 * Self.ms - 1)?.item == nil)
        var released = 0
        while let due = line.popDue(nowNanos: 149 * Self.ms) {
            #expect(due.item == released)
            #expect(due.delayNanos == 50 * Self.ms)
            released += 1
        }
        // All 100 are out 50 ms after the last arrived, not after 100 delays.
        #expect(released == 100)
    }

    @Test("nothing is due before its release time")
    func nothingEarly() {
        var line = DelayLine<String>(delayNanos: 10, jitterNanos: 0, maxBytesInFlight: 100, seed: 0)
        _ = line.admit("a", bytes: 1, arrivalNanos: 100)
        #expect(line.nextReleaseNanos == 110)
        #expect(line.popDue(nowNanos: 109)?.item == nil)
        #expect(line.popDue(nowNanos: 110)?.item == "a")
        #expect(line.nextReleaseNanos == nil)
    }

    @Test("reading pauses when the window fills and resumes only at half of it")
    func windowHysteresis() {
        var line = DelayLine<Int>(delayNanos: 0, jitterNanos: 0, maxBytesInFlight: 1_000, seed: 0)
        #expect(line.admit(0, bytes: 600, arrivalNanos: 0).pause == false)
        #expect(line.admit(1, bytes: 399, arrivalNanos: 0).pause == false)
        #expect(!line.isPaused)
        #expect(line.admit(2, bytes: 1, arrivalNanos: 0).pause == true)  // 1,000 in flight: the window is full
        #expect(line.admit(3, bytes: 100, arrivalNanos: 0).pause == false)  // already paused: no second signal
        #expect(line.bytesInFlight == 1_100)
        #expect(line.maxBytesInFlightSeen == 1_100)
        // Released but not yet taken by the far side: still in flight.
        while line.popDue(nowNanos: 0) != nil {}
        #expect(line.bytesInFlight == 1_100)
        #expect(line.completed(bytes: 599) == false)  // 501 in flight, above half
        #expect(line.isPaused)
        #expect(line.completed(bytes: 1) == true)  // 500: half the window
        #expect(!line.isPaused)
        #expect(line.completed(bytes: 500) == false)
        #expect(line.bytesInFlight == 0)
    }

    @Test("dropping the queue takes its bytes out of flight")
    func removeAllReleasesWindow() {
        var line = DelayLine<Int>(delayNanos: 1_000, jitterNanos: 0, maxBytesInFlight: 100, seed: 0)
        _ = line.admit(0, bytes: 40, arrivalNanos: 0)
        _ = line.admit(1, bytes: 70, arrivalNanos: 1)
        _ = line.popDue(nowNanos: 1_000)  // item 0 released, its write outstanding
        #expect(line.removeAll() == 70)
        #expect(line.bytesInFlight == 40)
        #expect(line.queuedCount == 0)
    }
}
