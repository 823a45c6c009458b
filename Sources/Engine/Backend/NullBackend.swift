import Runtime
import Storage
import Synchronization

/// A backend that does nothing and commits every transfer at once: it measures the harness
/// itself (key choice, per-layer recording, sampling), so a benchmark can show the driver is
/// never the bottleneck. It holds no state, so its audit has nothing to find; it refuses what can
/// be refused without state (``TransferRequest``'s rules but account existence) with 22023, as
/// every backend does.
///
/// With a `latency`, every transfer waits that long on the clock before it commits, using no CPU
/// while it waits: WAN-like latency with no engine behind it, so an open-loop benchmark can show
/// how many outstanding transfers the driver keeps (rate x latency) before it, not the engine,
/// is the limit. ``peakInFlight`` is the most transfers it held at once.
public final class NullBackend: Backend {
    /// `null`.
    public let name = "null"

    /// How long each transfer takes (zero: none).
    public let latency: Duration
    private let clock: any EngineClock
    private let inFlight = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    /// Creates the backend; each transfer takes `latency` on `clock`.
    public init(latency: Duration = .zero, clock: any EngineClock = SystemClock.shared) {
        self.latency = latency
        self.clock = clock
    }

    /// The most transfers in progress at once since the backend was created.
    public var peakInFlight: Int { peak.load(ordering: .relaxed) }

    public func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    {
        progress(count)
        return count
    }

    public func transfer(_ request: TransferRequest) async -> TransferResult {
        do { try Transfer.validate(request) } catch {
            return TransferResult(.failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: 0, xid: 0)
        }
        guard latency > .zero else { return TransferResult(.committed, endToEndNanos: 0, xid: request.id) }
        let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peak.compareExchange(
                expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
        let start = clock.nowNanos()
        try? await clock.sleep(for: latency)
        inFlight.wrappingSubtract(1, ordering: .relaxed)
        let elapsed = clock.nanosSince(start)
        // The wait stands for the network: L2.
        return TransferResult(.committed, endToEndNanos: elapsed, l2Nanos: elapsed, xid: request.id)
    }

    /// No nodes, so no counters.
    public func counters() -> BackendCounters { BackendCounters() }

    /// With a latency, the most transfers held at once (`null_in_flight_peak`).
    public func gauges() -> [String: Double] { latency > .zero ? ["null_in_flight_peak": Double(peakInFlight)] : [:] }

    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        let total = expectation.initialBalance &* Int64(expectation.accounts)
        return AuditReport(
            expectedTotal: total, actualTotal: total, acknowledged: expectation.acknowledged.count,
            accountsFound: expectation.accounts)
    }

    public func shutdown() async throws {}
}
