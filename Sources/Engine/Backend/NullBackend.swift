import Runtime
import Storage

/// A backend that does nothing and commits every transfer at once: it measures the harness
/// itself (key choice, per-layer recording, sampling), so a benchmark can show the driver is
/// never the bottleneck. It holds no state, so its audit has nothing to find; it refuses what can
/// be refused without state (``TransferRequest``'s rules but account existence) with 22023, as
/// every backend does.
public final class NullBackend: Backend {
    /// `null`.
    public let name = "null"

    /// Creates the backend.
    public init() {}

    public func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    {
        progress(count)
        return count
    }

    public func transfer(_ request: TransferRequest) async -> TransferResult {
        do { try Transfer.validate(request) } catch {
            return TransferResult(.failed(sqlState: Transfer.InvalidRequest.sqlState), endToEndNanos: 0, xid: 0)
        }
        return TransferResult(.committed, endToEndNanos: 0, xid: request.id)
    }

    /// No nodes, so no counters.
    public func counters() -> BackendCounters { BackendCounters() }

    public func gauges() -> [String: Double] { [:] }

    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        let total = expectation.initialBalance &* Int64(expectation.accounts)
        return AuditReport(
            expectedTotal: total, actualTotal: total, acknowledged: expectation.acknowledged.count,
            accountsFound: expectation.accounts)
    }

    public func shutdown() async throws {}
}
