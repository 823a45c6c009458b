import Runtime
import Storage
import Testing

@Suite("Two-phase commit")
struct TwoPhaseTests {
    static let durable = StorageOptions(durability: .fsync)
    static let shortLockTimeout = RuntimeOptions(lockTimeout: .milliseconds(50))

    /// Prepares a write of 150 to row 1 (committed at 100), crashes the engine, and reopens it
    /// with a new runtime. Returns the prepared id and the new runtime.
    func prepareAndCrash(_ directory: String) async throws -> (TransactionID, TransactionManager) {
        let storage = try StorageEngine(directory: directory, options: Self.durable)
        let manager = TransactionManager(storage: storage)
        try await seedRows(manager, [1: 100, 2: 100])
        let transaction = try manager.begin(.readCommitted)
        try await transaction.write(1, Row(balance: 150))
        try await manager.prepare(transaction)
        storage.crash()

        let reopened = try StorageEngine(directory: directory, options: Self.durable)
        #expect(reopened.recovery.preparedRestored == 1)
        #expect(reopened.preparedTransactions() == [transaction.xid])
        let runtime = TransactionManager(storage: reopened, options: Self.shortLockTimeout, clock: ManualClock())
        #expect(runtime.locks.holder(of: 1) == transaction.xid, "the recovered transaction's lock is adopted")
        return (transaction.xid, runtime)
    }

    /// A writer of row 1 times out behind the prepared transaction (on the manager's manual
    /// clock); a reader sees the old value.
    func expectRowHeld(_ manager: TransactionManager) async throws {
        let clock = try #require(manager.clock as? ManualClock)
        let writer = try manager.begin(.readCommitted)
        let code = await errorCodeAfterTimeout(clock, Self.shortLockTimeout.lockTimeout) {
            try await writer.write(1, Row(balance: 0))
        }
        #expect(code == .lockNotAvailable)
        manager.abort(writer)
        #expect(try await committedBalance(manager, 1) == 100, "a prepared write is not visible")
        #expect(try await committedBalance(manager, 2) == 100)
    }

    @Test("a prepared transaction survives a crash, keeps its lock, and COMMIT PREPARED makes it visible")
    func commitPreparedAfterCrash() async throws {
        try await withTemporaryDirectory { directory in
            let (xid, manager) = try await prepareAndCrash(directory)
            try await expectRowHeld(manager)
            let next = try manager.begin(.readCommitted)
            #expect(next.xid > xid, "ids keep increasing after recovery")
            manager.abort(next)

            try await manager.commitPrepared(xid)
            #expect(manager.storage.preparedTransactions().isEmpty)
            #expect(manager.locks.holder(of: 1) == nil)
            #expect(try await committedBalance(manager, 1) == 150)
            let writer = try manager.begin(.readCommitted)
            try await writer.write(1, Row(balance: 151))
            try await manager.commit(writer)

            manager.storage.crash()
            let again = try StorageEngine(directory: directory, options: Self.durable)
            defer { try? again.close() }
            #expect(again.preparedTransactions().isEmpty)
            #expect(try await committedBalance(TransactionManager(storage: again), 1) == 151)
        }
    }

    @Test("a prepared transaction survives a crash, and ROLLBACK PREPARED discards its write")
    func abortPreparedAfterCrash() async throws {
        try await withTemporaryDirectory { directory in
            let (xid, manager) = try await prepareAndCrash(directory)
            try await expectRowHeld(manager)

            try await manager.abortPrepared(xid)
            #expect(manager.storage.preparedTransactions().isEmpty)
            #expect(manager.locks.holder(of: 1) == nil)
            #expect(try await committedBalance(manager, 1) == 100)
            let writer = try manager.begin(.readCommitted)
            try await writer.write(1, Row(balance: 99), wait: .noWait)
            try await manager.commit(writer)

            manager.storage.crash()
            let again = try StorageEngine(directory: directory, options: Self.durable)
            defer { try? again.close() }
            #expect(again.preparedTransactions().isEmpty)
            #expect(try await committedBalance(TransactionManager(storage: again), 1) == 99)
        }
    }

    @Test("without a crash, a prepared transaction holds its locks until COMMIT PREPARED", arguments: [true, false])
    func preparedHoldsLocks(commit: Bool) async throws {
        try await withRuntime(durability: .fsync, options: Self.shortLockTimeout, clock: ManualClock()) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            let transaction = try manager.begin(.serializable)
            try await transaction.write(1, Row(balance: 150))
            try await manager.prepare(transaction)
            #expect(manager.storage.preparedTransactions() == [transaction.xid])
            manager.abort(transaction)  // a plain ROLLBACK does not touch a prepared transaction
            #expect(manager.locks.holder(of: 1) == transaction.xid)
            try await expectRowHeld(manager)
            if commit {
                try await manager.commitPrepared(transaction.xid)
            } else {
                try await manager.abortPrepared(transaction.xid)
            }
            #expect(try await committedBalance(manager, 1) == (commit ? 150 : 100))
            #expect(manager.locks.holder(of: 1) == nil)
            #expect(await errorCode { try await manager.commitPrepared(transaction.xid) } == .inFailedTransaction)
            #expect(await errorCode { try await manager.abortPrepared(transaction.xid) } == .inFailedTransaction)
        }
    }
}

@Suite("Two-phase commit of a failed transaction")
struct PrepareFailedTests {
    /// A partial transfer: the debit leg (row 1) is written, the credit leg (row 2) fails with
    /// 40001 because a concurrent transaction updated row 2 after the transfer's snapshot.
    func partialTransfer(_ manager: TransactionManager) async throws -> Transaction {
        try await seedRows(manager, [1: 100, 2: 100])
        let transfer = try manager.begin(.repeatableRead)
        try await transfer.write(1, Row(balance: 90))
        let other = try manager.begin(.readCommitted)
        try await other.write(2, Row(balance: 200))
        try await manager.commit(other)
        #expect(await errorCode { try await transfer.write(2, Row(balance: 110)) } == .serializationFailure)
        return transfer
    }

    @Test("PREPARE refuses a transaction whose statement failed, exactly as COMMIT does", arguments: [true, false])
    func prepareRefusesFailedTransaction(usePrepare: Bool) async throws {
        try await withRuntime(durability: .fsync, options: TwoPhaseTests.shortLockTimeout) { manager in
            let transfer = try await partialTransfer(manager)
            let code = await errorCode {
                if usePrepare { try await manager.prepare(transfer) } else { try await manager.commit(transfer) }
            }
            #expect(code == .serializationFailure, "the statement's own error, as COMMIT reports it")
            #expect(manager.storage.preparedTransactions().isEmpty, "nothing was prepared")
            #expect(manager.locks.holder(of: 1) == nil, "the refused transaction was rolled back")
            // The coordinator's decision cannot commit the debit leg alone.
            #expect(await errorCode { try await manager.commitPrepared(transfer.xid) } == .inFailedTransaction)
            #expect(try await committedBalance(manager, 1) == 100, "the debit leg never commits")
            #expect(try await committedBalance(manager, 2) == 200)
        }
    }
}
