import Storage
import Synchronization
import Testing

@testable import Distributed

@Suite("Simulated network")
struct SimulatedNetworkTests {
    static let ms: UInt64 = 1_000_000

    /// Three regions: 0-1 at 60 ms, 0-2 at 150 ms, 1-2 at 100 ms; 2 ms inside a region.
    static func topology() throws -> NetworkTopology {
        try NetworkTopology(
            rttNanos: [[0, 60 * ms, 150 * ms], [60 * ms, 0, 100 * ms], [150 * ms, 100 * ms, 0]],
            intraRegionRTTNanos: 2 * ms)
    }

    static let a0 = NodeAddress(region: 0, node: 0)
    static let b0 = NodeAddress(region: 0, node: 1)
    static let a1 = NodeAddress(region: 1, node: 0)
    static let a2 = NodeAddress(region: 2, node: 0)

    @Test("the timer heap pops in deadline order, first-in first-out for equal deadlines")
    func timerHeapOrder() {
        var heap = TimerHeap<Int>()
        var random = SplitMix64(seed: 7)
        var expected: [(UInt64, Int)] = []
        for value in 0..<10_000 {
            let deadline = random.next() % 500
            heap.schedule(value, at: deadline)
            expected.append((deadline, value))
        }
        expected.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var popped: [(UInt64, Int)] = []
        while let (deadline, value) = heap.popDue(now: 250) { popped.append((deadline, value)) }
        #expect(popped.allSatisfy { $0.0 <= 250 })
        while let (deadline, value) = heap.popDue(now: .max) { popped.append((deadline, value)) }
        #expect(popped.map(\.1) == expected.map(\.1))
        #expect(heap.isEmpty)
    }

    @Test("the topology refuses a matrix that is not square and symmetric")
    func topologyValidation() {
        #expect(throws: NetworkTopology.TopologyError.notSymmetric(0, 1)) {
            try NetworkTopology(rttNanos: [[0, 1], [2, 0]], intraRegionRTTNanos: 0)
        }
        #expect(throws: NetworkTopology.TopologyError.notSquare(row: 0)) {
            try NetworkTopology(rttNanos: [[0], [2, 0]], intraRegionRTTNanos: 0)
        }
    }

    @Test("a message arrives after half the round trip of its two regions (half the intra-region RTT inside one)")
    func delayIsHalfTheRTT() throws {
        var network = SimulatedNetwork<String>(topology: try Self.topology())
        #expect(
            network.send("x", bytes: 10, from: Self.a0, to: Self.a2, now: 1_000)
                == .scheduled(deadline: 1_000 + 75 * Self.ms))
        #expect(
            network.send("y", bytes: 10, from: Self.a0, to: Self.b0, now: 1_000)
                == .scheduled(deadline: 1_000 + 1 * Self.ms))
        #expect(network.due(now: 1_000 + Self.ms - 1).isEmpty)
        #expect(network.due(now: 1_000 + Self.ms).map(\.message) == ["y"])
        #expect(network.due(now: 1_000 + 75 * Self.ms - 1).isEmpty)
        #expect(network.due(now: 1_000 + 75 * Self.ms).map(\.message) == ["x"])
    }

    @Test("jitter stays within its bound and never reorders a link (per-link FIFO, as TCP)")
    func jitterKeepsLinkOrder() throws {
        var network = SimulatedNetwork<Int>(topology: try Self.topology(), jitterNanos: 20 * Self.ms, seed: 3)
        var now: UInt64 = 0
        for value in 0..<1_000 {
            guard case .scheduled(let deadline) = network.send(value, bytes: 1, from: Self.a0, to: Self.a1, now: now)
            else {
                Issue.record("nothing is lost without a drop probability")
                return
            }
            #expect(deadline >= now + 30 * Self.ms)
            now += Self.ms / 10
        }
        let delivered = network.due(now: .max).map(\.message)
        #expect(delivered == Array(0..<1_000))
    }

    @Test("every message is either delivered or counted as dropped, with the configured loss rate")
    func dropsAreCounted() throws {
        var network = SimulatedNetwork<Int>(topology: try Self.topology(), dropProbability: 0.25, seed: 11)
        for value in 0..<4_000 { network.send(value, bytes: 100, from: Self.a0, to: Self.a1, now: 0) }
        let delivered = network.due(now: .max).count
        let c = network.counters[.interRegion]!
        #expect(c.messagesSent == 4_000)
        #expect(c.bytesSent == 400_000)
        #expect(UInt64(delivered) == c.messagesDelivered)
        #expect(c.messagesDelivered + c.droppedByLoss == 4_000)
        #expect((800...1_200).contains(c.droppedByLoss), "about a quarter lost: \(c.droppedByLoss)")
        #expect(network.counters[.intraRegion]! == .init())
    }

    @Test("a partition drops messages sent across it and those in flight when it starts; heal restores the links")
    func partitions() throws {
        var network = SimulatedNetwork<String>(topology: try Self.topology())
        network.send("in flight", bytes: 1, from: Self.a0, to: Self.a1, now: 0)
        network.partition([[Self.a0, Self.b0], [Self.a1]])
        #expect(network.send("cut", bytes: 1, from: Self.a0, to: Self.a1, now: 0) == .droppedByPartition)
        #expect(network.send("same side", bytes: 1, from: Self.a0, to: Self.b0, now: 0) != .droppedByPartition)
        // a2 is in no group: it stays with the first.
        #expect(network.connected(Self.a2, Self.a0))
        #expect(network.due(now: .max).map(\.message) == ["same side"])
        #expect(network.counters[.interRegion]!.droppedByPartition == 2)
        network.heal()
        network.send("healed", bytes: 1, from: Self.a0, to: Self.a1, now: 0)
        #expect(network.due(now: .max).map(\.message) == ["healed"])
    }

    @Test("regions can be partitioned as wholes")
    func regionPartition() throws {
        var network = SimulatedNetwork<String>(topology: try Self.topology())
        network.partition(regions: [[0, 1], [2]], nodes: [Self.a0, Self.b0, Self.a1, Self.a2])
        #expect(network.connected(Self.a0, Self.a1))
        #expect(network.connected(Self.b0, Self.a0))
        #expect(!network.connected(Self.a1, Self.a2))
    }

    @Test("the in-flight bound sheds messages as losses")
    func inFlightBound() throws {
        var network = SimulatedNetwork<Int>(topology: try Self.topology(), maxInFlight: 2)
        #expect(network.send(1, bytes: 1, from: Self.a0, to: Self.a1, now: 0) != .droppedByLoss)
        #expect(network.send(2, bytes: 1, from: Self.a0, to: Self.a1, now: 0) != .droppedByLoss)
        #expect(network.send(3, bytes: 1, from: Self.a0, to: Self.a1, now: 0) == .droppedByLoss)
    }
}

@Suite("Network transport")
struct NetworkTransportTests {
    static let ms: UInt64 = 1_000_000

    /// Waits (yielding, not sleeping) until the transport's loop sleeps on the clock.
    static func waitForSleeper(_ clock: ManualClock, count: Int = 1) async {
        while clock.sleeperCount < count { await Task.yield() }
    }

    @Test("one loop delivers each message when the manual clock reaches its deadline, and an earlier send wakes it")
    func deliversOnTheClock() async throws {
        let clock = ManualClock()
        let topology = try NetworkTopology(
            rttNanos: [[0, 100 * Self.ms], [100 * Self.ms, 0]], intraRegionRTTNanos: 2 * Self.ms)
        let transport = NetworkTransport(network: SimulatedNetwork<String>(topology: topology), clock: clock)
        let received = Mutex<[String]>([])
        let (deliveries, delivered) = AsyncStream.makeStream(of: Int.self)
        let loop = Task {
            await transport.run { batch in
                received.withLock { $0.append(contentsOf: batch.map(\.message)) }
                delivered.yield(batch.count)
            }
        }
        var counts = deliveries.makeAsyncIterator()
        let a = NodeAddress(region: 0, node: 0)
        let b = NodeAddress(region: 0, node: 1)
        let c = NodeAddress(region: 1, node: 0)
        transport.send("far", bytes: 3, from: a, to: c)
        await Self.waitForSleeper(clock)
        #expect(clock.nextDeadline == 50 * Self.ms)
        // A message with an earlier deadline wakes the loop, which re-arms for it.
        transport.send("near", bytes: 4, from: a, to: b)
        while clock.nextDeadline != Self.ms { await Task.yield() }
        clock.advance(by: Self.ms)
        _ = await counts.next()
        #expect(received.withLock { $0 } == ["near"])
        await Self.waitForSleeper(clock)
        clock.advance(by: 48 * Self.ms)
        #expect(received.withLock { $0 } == ["near"])
        clock.advance(by: Self.ms)
        _ = await counts.next()
        #expect(received.withLock { $0 } == ["near", "far"])
        #expect(transport.inFlight == 0)
        #expect(transport.counters[.intraRegion]?.bytesDelivered == 4)
        #expect(transport.counters[.interRegion]?.bytesDelivered == 3)
        loop.cancel()
        await loop.value
    }

    @Test("100,000 messages in flight wait in one heap behind one sleeping timer")
    func manyInFlight() async throws {
        let clock = ManualClock()
        let topology = try NetworkTopology(rttNanos: [[0]], intraRegionRTTNanos: 10 * Self.ms)
        let transport = NetworkTransport(
            network: SimulatedNetwork<Int>(topology: topology, jitterNanos: 5 * Self.ms, seed: 1), clock: clock)
        let total = Mutex(0)
        let (deliveries, delivered) = AsyncStream.makeStream(of: Int.self)
        let loop = Task {
            await transport.run { batch in
                total.withLock { $0 += batch.count }
                delivered.yield(batch.count)
            }
        }
        for value in 0..<100_000 {
            transport.send(
                value, bytes: 8, from: NodeAddress(region: 0, node: value % 3), to: NodeAddress(region: 0, node: 3))
        }
        await Self.waitForSleeper(clock)
        #expect(transport.inFlight == 100_000)
        #expect(clock.sleeperCount == 1)
        clock.advance(by: 20 * Self.ms)
        var counts = deliveries.makeAsyncIterator()
        while total.withLock({ $0 }) < 100_000 { _ = await counts.next() }
        #expect(transport.inFlight == 0)
        loop.cancel()
        await loop.value
    }
}
