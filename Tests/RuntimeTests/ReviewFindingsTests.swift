import Runtime
import Storage
import Testing

/// Regression tests for defects found by the outside review of issue 7 (runtime).
@Suite("Review findings: runtime")
struct RuntimeReviewFindingsTests {
    /// COMMIT PREPARED names a transaction by id. Storage's `commit` accepts a running
    /// transaction as well as a prepared one, so `commitPrepared` of a transaction that never
    /// prepared committed it behind its handle's back: a partial transfer (one leg written, the
    /// other failed) committed and destroyed money, which `commit` and `prepare` refuse (25P02).
    @Test("COMMIT PREPARED of a transaction that is not prepared is refused and commits nothing")
    func commitPreparedRequiresPrepared() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            let blocker = try manager.begin(.readCommitted)
            try await blocker.write(2, Row(balance: 100))
            let transfer = try manager.begin(.readCommitted)
            try await transfer.write(1, Row(balance: 50))
            // The second leg fails (NOWAIT on the row the blocker holds): the transfer is failed.
            let failedLeg = await errorCode { try await transfer.write(2, Row(balance: 150), wait: .noWait) }
            #expect(failedLeg == .lockNotAvailable)
            let code = await errorCode { try await manager.commitPrepared(transfer.xid) }
            #expect(
                code == .invalidTransactionState || code == .inFailedTransaction,
                "COMMIT PREPARED of a transaction that never prepared: \(String(describing: code))")
            manager.abort(transfer)
            manager.abort(blocker)
            #expect(try await committedBalance(manager, 1) == 100, "the partial transfer did not commit")
            #expect(try await committedBalance(manager, 2) == 100)

            // Nor can ROLLBACK PREPARED end a running transaction behind its handle's back.
            let running = try manager.begin(.readCommitted)
            try await running.write(1, Row(balance: 70))
            let rollback = await errorCode { try await manager.abortPrepared(running.xid) }
            #expect(rollback == .invalidTransactionState || rollback == .inFailedTransaction)
            try await manager.commit(running)
            #expect(try await committedBalance(manager, 1) == 70)
        }
    }
}
