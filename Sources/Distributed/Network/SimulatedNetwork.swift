import Storage

/// The simulated WAN as a pure state machine: it decides when each message arrives (half the RTT of its
/// two regions plus uniform jitter), whether it is lost (a drop probability, or a partition at send or at
/// delivery time), keeps each link's order (as TCP: a message never overtakes an earlier one on the same
/// directed link), and counts messages and bytes per link class. Time is a parameter (`now`), so the
/// shell (`NetworkTransport`) and tests drive it with any clock.
package struct SimulatedNetwork<Message> {
    /// A message due for delivery.
    package struct Delivery {
        package let from: NodeAddress
        package let to: NodeAddress
        package let message: Message
        package let bytes: Int
        /// When it was due (the shell may deliver it a little later).
        package let deadline: UInt64
    }

    /// What happened to a message handed to `send`.
    package enum SendOutcome: Equatable, Sendable {
        case scheduled(deadline: UInt64)
        case droppedByLoss
        case droppedByPartition
    }

    /// Counts for one link class.
    package struct LinkCounters: Sendable, Equatable {
        package var messagesSent: UInt64 = 0
        package var bytesSent: UInt64 = 0
        package var messagesDelivered: UInt64 = 0
        package var bytesDelivered: UInt64 = 0
        package var droppedByLoss: UInt64 = 0
        package var droppedByPartition: UInt64 = 0
    }

    private struct Link: Hashable {
        let from: NodeAddress
        let to: NodeAddress
    }

    package let topology: NetworkTopology
    /// Uniform extra delay in `0 ... jitterNanos`, per message.
    package var jitterNanos: UInt64
    /// Probability that a message is lost (0 ... 1).
    package var dropProbability: Double
    /// The most messages in flight (a bound on memory); further sends are dropped as lost.
    package let maxInFlight: Int

    private var random: SplitMix64
    private var timers = TimerHeap<Delivery>()
    /// The latest deadline scheduled per directed link (FIFO order).
    private var lastDeadline: [Link: UInt64] = [:]
    /// Partition: node → side; nodes on different sides cannot talk. Empty when healed.
    private var side: [NodeAddress: Int] = [:]
    /// Counters indexed by link class (intra, inter).
    private var linkCounters = [LinkCounters(), LinkCounters()]

    /// Messages and bytes per link class.
    package var counters: [LinkClass: LinkCounters] {
        [.intraRegion: linkCounters[0], .interRegion: linkCounters[1]]
    }

    package init(
        topology: NetworkTopology, jitterNanos: UInt64 = 0, dropProbability: Double = 0, seed: UInt64 = 0,
        maxInFlight: Int = 1_000_000
    ) {
        self.topology = topology
        self.jitterNanos = jitterNanos
        self.dropProbability = dropProbability
        self.maxInFlight = maxInFlight
        random = SplitMix64(seed: seed)
    }

    package var inFlight: Int { timers.count }
    package var nextDeadline: UInt64? { timers.nextDeadline }

    /// Can `a` and `b` talk now?
    package func connected(_ a: NodeAddress, _ b: NodeAddress) -> Bool {
        side.isEmpty || (side[a] ?? 0) == (side[b] ?? 0)
    }

    /// Cuts the network into groups: nodes in different groups cannot talk; nodes in no group stay with
    /// the first. Replaces any earlier partition.
    package mutating func partition(_ groups: [[NodeAddress]]) {
        side = [:]
        for (index, group) in groups.enumerated() {
            for node in group { side[node] = index }
        }
    }

    /// Cuts whole regions apart: `groups` lists region indexes; every node of a region follows it.
    package mutating func partition(regions groups: [[Int]], nodes: [NodeAddress]) {
        partition(groups.map { regions in nodes.filter { regions.contains($0.region) } })
    }

    /// Restores every link.
    package mutating func heal() { side = [:] }

    /// Hands a message to the network at time `now`.
    @discardableResult
    package mutating func send(
        _ message: Message, bytes: Int, from: NodeAddress, to: NodeAddress, now: UInt64
    ) -> SendOutcome {
        let linkClass = from.region == to.region ? 0 : 1
        linkCounters[linkClass].messagesSent += 1
        linkCounters[linkClass].bytesSent += UInt64(bytes)
        guard connected(from, to) else {
            linkCounters[linkClass].droppedByPartition += 1
            return .droppedByPartition
        }
        if timers.count >= maxInFlight || (dropProbability > 0 && unitRandom() < dropProbability) {
            linkCounters[linkClass].droppedByLoss += 1
            return .droppedByLoss
        }
        let jitter = jitterNanos == 0 ? 0 : random.next() % (jitterNanos + 1)
        let link = Link(from: from, to: to)
        // Never before an earlier message of the same link (equal deadlines keep their send order).
        let deadline = max(now + topology.oneWayNanos(from, to) + jitter, lastDeadline[link] ?? 0)
        lastDeadline[link] = deadline
        timers.schedule(Delivery(from: from, to: to, message: message, bytes: bytes, deadline: deadline), at: deadline)
        return .scheduled(deadline: deadline)
    }

    /// Removes and returns every message due at `now`, in deadline order; messages whose link is cut now
    /// are dropped (a connection broken while they were in flight).
    package mutating func due(now: UInt64) -> [Delivery] {
        var deliveries: [Delivery] = []
        while let (_, delivery) = timers.popDue(now: now) {
            let linkClass = delivery.from.region == delivery.to.region ? 0 : 1
            if connected(delivery.from, delivery.to) {
                linkCounters[linkClass].messagesDelivered += 1
                linkCounters[linkClass].bytesDelivered += UInt64(delivery.bytes)
                deliveries.append(delivery)
            } else {
                linkCounters[linkClass].droppedByPartition += 1
            }
        }
        return deliveries
    }

    private mutating func unitRandom() -> Double {
        Double(random.next() >> 11) / Double(1 << 53)
    }
}

extension SimulatedNetwork: Sendable where Message: Sendable {}
extension SimulatedNetwork.Delivery: Sendable where Message: Sendable {}
