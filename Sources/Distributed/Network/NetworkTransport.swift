import Storage
import Synchronization

/// The shell around `SimulatedNetwork`: messages are handed over with `send` from any task, and one loop
/// (`run`) sleeps on the injected clock until the earliest deadline, then delivers everything due. One
/// timer heap and one sleeping task serve every message in flight (not a task per message), so 100,000
/// messages in flight cost a heap, not 100,000 tasks. A send with an earlier deadline than the one the
/// loop sleeps for wakes it.
package final class NetworkTransport<Message: Sendable>: Sendable {
    package typealias Delivery = SimulatedNetwork<Message>.Delivery

    private struct State {
        var network: SimulatedNetwork<Message>
        /// The deadline the loop sleeps until (`.max` when idle, nil when it is delivering).
        var sleepingUntil: UInt64?
    }

    private let clock: any EngineClock
    private let state: Mutex<State>
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    package init(network: SimulatedNetwork<Message>, clock: any EngineClock) {
        self.clock = clock
        state = Mutex(State(network: network, sleepingUntil: nil))
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands `message` to the network now; returns when it will arrive, or that it was lost.
    @discardableResult
    package func send(_ message: Message, bytes: Int, from: NodeAddress, to: NodeAddress)
        -> SimulatedNetwork<
            Message
        >.SendOutcome
    {
        let now = clock.nowNanos()
        let (outcome, mustWake) = state.withLock { s in
            let outcome = s.network.send(message, bytes: bytes, from: from, to: to, now: now)
            guard case .scheduled(let deadline) = outcome, let sleeping = s.sleepingUntil, deadline < sleeping else {
                return (outcome, false)
            }
            s.sleepingUntil = deadline
            return (outcome, true)
        }
        if mustWake { wake.yield() }
        return outcome
    }

    /// Changes the network (partition, heal, drop probability, jitter) under the lock.
    package func configure(_ body: (inout SimulatedNetwork<Message>) -> Void) {
        state.withLock { body(&$0.network) }
    }

    package var counters: [LinkClass: SimulatedNetwork<Message>.LinkCounters] {
        state.withLock { $0.network.counters }
    }

    package var inFlight: Int { state.withLock { $0.network.inFlight } }

    /// The loop is waiting (for the earliest deadline, or for a send) rather than delivering: tests driving
    /// a `ManualClock` advance it only when every task waits.
    package var isWaiting: Bool { state.withLock { $0.sleepingUntil != nil } }

    /// The earliest deadline of a message in flight.
    package var nextDeadline: UInt64? { state.withLock { $0.network.nextDeadline } }

    /// Delivers messages as they fall due, in deadline order (per link in send order), until the task is
    /// cancelled. `deliver` receives each batch of due messages.
    package func run(deliver: @Sendable ([Delivery]) async -> Void) async {
        var iterator = wakeups.makeAsyncIterator()
        while !Task.isCancelled {
            let now = clock.nowNanos()
            let (due, next) = state.withLock { s in
                let due = s.network.due(now: now)
                let next = s.network.nextDeadline
                s.sleepingUntil = due.isEmpty ? (next ?? .max) : nil
                return (due, next)
            }
            if !due.isEmpty {
                await deliver(due)
                continue
            }
            // One sleeping task for the earliest deadline; an earlier send wakes the loop instead.
            let timer = next.map { deadline in
                Task { [clock, wake] in
                    if (try? await clock.sleep(untilNanos: deadline)) != nil { wake.yield() }
                }
            }
            let stillRunning = await iterator.next() != nil
            timer?.cancel()
            if !stillRunning { return }
        }
    }
}
