import NIOCore
import Synchronization

/// Every proxied connection that is not finished yet, so that `stop` can close them and wait for them.
///
/// A connection is finished when its client channel has closed and its upstream side is settled: never
/// started (the client closed before it was active), failed to connect, or closed. Once stopping, a
/// channel that registers is told to close itself (and is still waited for).
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var client: any Channel
        var upstream: (any Channel)?
        var clientClosed = false
        var upstreamStarted = false
        var upstreamFinished = false

        var isFinished: Bool { clientClosed && (!upstreamStarted || upstreamFinished) }
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var stopping = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let counters: ProxyCounters

    init(counters: ProxyCounters) {
        self.counters = counters
    }

    /// Connections not finished.
    var count: Int { state.withLock { $0.entries.count } }

    /// Records an accepted client; false when stopping (the caller closes it).
    func register(_ client: any Channel, id: UInt64) -> Bool {
        state.withLock { state in
            state.entries[id] = Entry(client: client)
            return !state.stopping
        }
    }

    /// The upstream connect of `id` is about to start.
    func upstreamStarted(_ id: UInt64) {
        state.withLock { $0.entries[id]?.upstreamStarted = true }
    }

    /// Records the upstream channel of `id`; false when stopping (the caller closes it).
    func setUpstream(_ upstream: any Channel, of id: UInt64) -> Bool {
        state.withLock { state in
            state.entries[id]?.upstream = upstream
            return !state.stopping
        }
    }

    /// The upstream side of `id` failed to connect or closed.
    func upstreamFinished(_ id: UInt64) {
        update(id) { $0.upstreamFinished = true }
    }

    /// The client channel of `id` closed.
    func clientClosed(_ id: UInt64) {
        update(id) { $0.clientClosed = true }
    }

    /// Marks the registry as stopping: channels that register from now on are told to close.
    func beginStop() {
        state.withLock { $0.stopping = true }
    }

    /// Every channel of every unfinished connection.
    func openChannels() -> [any Channel] {
        state.withLock { state in
            state.entries.values.flatMap { entry in [entry.client] + (entry.upstream.map { [$0] } ?? []) }
        }
    }

    /// Returns when every connection is finished (call after `beginStop`).
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let emptyNow = state.withLock { state in
                if state.entries.isEmpty { return true }
                state.waiters.append(continuation)
                return false
            }
            if emptyNow { continuation.resume() }
        }
    }

    private func update(_ id: UInt64, _ change: (inout Entry) -> Void) {
        let (finished, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard var entry = state.entries[id] else { return (false, []) }
            change(&entry)
            guard entry.isFinished else {
                state.entries[id] = entry
                return (false, [])
            }
            state.entries[id] = nil
            guard state.entries.isEmpty else { return (true, []) }
            defer { state.waiters = [] }
            return (true, state.waiters)
        }
        if finished { counters.connectionsClosed.add(1, ordering: .relaxed) }
        for waiter in waiters { waiter.resume() }
    }
}
