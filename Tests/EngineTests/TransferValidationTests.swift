import Engine
import Runtime
import Storage
import Testing

/// Requests no bank would execute are refused before any write, whatever the caller: the
/// backend reports them as failed with 22023 (invalid parameter value), which the driver counts
/// as invalid input, and the audit finds every account untouched.
@Suite("Transfer validation")
struct TransferValidationTests {
    /// SQLSTATE 22023, invalid parameter value.
    static let invalidInput = "22023"

    @Test("a transfer to the same account, to an unknown account, or of a non-positive amount changes nothing")
    func invalidRequestsAreRefused() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(configuration: configuration(directory))
            _ = try await backend.load(accounts: 4, initialBalance: 100) { _ in }
            let ok = await backend.transfer(TransferRequest(id: 1, from: 0, to: 1, amount: 10))
            #expect(ok.outcome == .committed)
            let ledgerRowOfTransfer1: AccountID = 1 << 63 | 1
            let invalid: [TransferRequest] = [
                TransferRequest(id: 2, from: 2, to: 2, amount: 10),
                TransferRequest(id: 3, from: 0, to: 0, amount: 1),
                TransferRequest(id: 4, from: 0, to: 4, amount: 10),
                TransferRequest(id: 5, from: 99, to: 1, amount: 10),
                TransferRequest(id: 6, from: 0, to: 1, amount: 0),
                TransferRequest(id: 7, from: 0, to: 1, amount: -50),
                TransferRequest(id: 8, from: ledgerRowOfTransfer1, to: 3, amount: 10),
                TransferRequest(id: 9, from: 3, to: ledgerRowOfTransfer1, amount: 10),
            ]
            for request in invalid {
                let result = await backend.transfer(request)
                #expect(
                    result.outcome == .failed(sqlState: Self.invalidInput), "\(request) must be refused: \(result)")
                #expect(result.isInvalidInput)
                #expect(result.xid == 0)
                #expect(result.retriedErrors.isEmpty)
                #expect(result.l2Nanos + result.l1Nanos + result.l0Nanos == result.endToEndNanos)
            }
            let report = try await backend.audit(
                AuditExpectation(accounts: 4, initialBalance: 100, overdraft: false, acknowledged: [1: ok.xid]))
            #expect(report.actualTotal == 400, "no money created or destroyed")
            #expect(report.balanceMismatches == 0 && report.negativeAccounts == 0 && report.lost == 0)
        }
    }

    @Test("a same-account transfer is refused inside a commit batch too")
    func sameAccountInBatch() async throws {
        try await withDataDirectory { directory in
            let backend = try EmbeddedBackend(
                configuration: configuration(directory, batch: .init(maxSize: 4, window: .milliseconds(1))))
            _ = try await backend.load(accounts: 2, initialBalance: 100) { _ in }
            let result = await backend.transfer(TransferRequest(id: 1, from: 1, to: 1, amount: 30))
            #expect(result.outcome == .failed(sqlState: Self.invalidInput))
            let report = try await backend.audit(
                AuditExpectation(accounts: 2, initialBalance: 100, overdraft: false, acknowledged: [:]))
            #expect(report.actualTotal == 200)
            #expect(report.balanceMismatches == 0)
        }
    }
}
