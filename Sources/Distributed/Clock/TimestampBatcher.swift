/// The client side of the oracle on one node, as a pure state machine: concurrent requests share one
/// round trip. While a request to the oracle is in flight, new requests wait; when its answer arrives, the
/// waiters it covers get their timestamps in arrival order, and one request for everyone still waiting
/// goes out (PD's client batches the same way).
package struct TimestampBatcher<Waiter: Sendable>: Sendable {
    /// What the shell does next.
    package enum Action: Sendable {
        /// Send one request for `count` timestamps to the oracle.
        case send(count: Int)
        /// A request is already in flight; wait for its answer.
        case wait
    }

    /// The most timestamps one round trip asks for (the oracle's `maxBatch`).
    package let maxBatch: Int
    /// The most requests that may wait (a bound on memory); `enqueue` refuses beyond it.
    package let maxWaiting: Int

    private var waiting: [Waiter] = []
    private var inFlight: Int?

    package init(maxBatch: Int = 4_096, maxWaiting: Int = 100_000) {
        self.maxBatch = maxBatch
        self.maxWaiting = maxWaiting
    }

    /// Requests in flight or waiting.
    package var waitingCount: Int { waiting.count }
    package var isInFlight: Bool { inFlight != nil }

    /// A request for one timestamp arrives; returns nil when too many wait already (shed load).
    package mutating func enqueue(_ waiter: Waiter) -> Action? {
        guard waiting.count < maxWaiting else { return nil }
        waiting.append(waiter)
        if inFlight != nil { return .wait }
        return sendNext()
    }

    /// The oracle answered the request in flight with `count` timestamps from `first`: returns each
    /// served waiter with its timestamp (in arrival order) and what to do next.
    package mutating func received(first: HybridTimestamp, count: Int) -> (
        served: [(Waiter, HybridTimestamp)], next: Action?
    ) {
        precondition(inFlight == count, "an answer matches the request in flight")
        inFlight = nil
        var served: [(Waiter, HybridTimestamp)] = []
        served.reserveCapacity(count)
        var timestamp = first
        for waiter in waiting.prefix(count) {
            served.append((waiter, timestamp))
            timestamp = HybridTimestamp(rawValue: timestamp.rawValue + 1)
        }
        waiting.removeFirst(min(count, waiting.count))
        return (served, waiting.isEmpty ? nil : sendNext())
    }

    /// Gives up on every waiter (the oracle is unreachable): returns them, in arrival order, and
    /// forgets the request in flight.
    package mutating func drain() -> [Waiter] {
        inFlight = nil
        defer { waiting = [] }
        return waiting
    }

    /// The request in flight failed (the oracle moved, the link broke): ask again for everyone waiting.
    package mutating func failed() -> Action? {
        inFlight = nil
        return waiting.isEmpty ? nil : sendNext()
    }

    private mutating func sendNext() -> Action {
        let count = min(waiting.count, maxBatch)
        inFlight = count
        return .send(count: count)
    }
}
