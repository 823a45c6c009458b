import Runtime
import Storage

/// A backend that does nothing and commits every transfer at once: it measures the harness
/// itself (key choice, per-layer recording, sampling), so a benchmark can show the driver is
/// never the bottleneck. It holds no state, so its audit has nothing to find.
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
        TransferResult(.committed, retried: [], trace: Trace(), endToEnd: 0, xid: request.id)
    }

    public func counters() -> [String: Double] { [:] }

    public func gauges() -> [String: Double] { [:] }

    public func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        let total = expectation.initialBalance &* Int64(expectation.accounts)
        return AuditReport(
            expectedTotal: total, actualTotal: total, negativeAccounts: 0, acknowledged: expectation.acknowledged.count,
            lost: 0, xidMismatches: 0, balanceMismatches: 0, stateHashes: [:],
            recoveries: ["null": "no state: nothing stored, nothing to recover"])
    }

    public func shutdown() async throws {}
}
