import Testing

@testable import Storage

@Suite("Storage engine: transactions and row locks")
struct StorageEngineTests {
    private func withEngine(_ body: (StorageEngine) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? engine.close() }
            try await body(engine)
        }
    }

    @Test("a second writer gets rowLocked naming the holder, for write, lock and insert")
    func secondWriterIsRefused() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100])
            let holder = try engine.begin()
            try engine.write(1, Row(balance: 90), for: holder, snapshot: engine.snapshot(for: holder))
            try engine.lock(2, for: holder, snapshot: nil)

            let other = try engine.begin()
            let snapshot = try engine.snapshot(for: other)
            #expect(throws: StorageError.rowLocked(key: 1, holder: holder)) {
                try engine.write(1, Row(balance: 1), for: other, snapshot: snapshot)
            }
            #expect(throws: StorageError.rowLocked(key: 1, holder: holder)) {
                try engine.lock(1, for: other, snapshot: snapshot)
            }
            #expect(throws: StorageError.rowLocked(key: 2, holder: holder)) {
                try engine.insert(2, Row(balance: 1), for: other, snapshot: snapshot)
            }
            #expect(engine.statistics().rowLockConflicts >= 2)
            // The holder itself may write its locked rows again.
            try engine.write(1, Row(balance: 80), for: holder, snapshot: nil)
            try engine.write(2, Row(balance: 5), for: holder, snapshot: nil)
        }
    }

    @Test("row locks are released at commit")
    func locksReleasedAtCommit() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100])
            let holder = try engine.begin()
            try engine.write(1, Row(balance: 90), for: holder, snapshot: engine.snapshot(for: holder))
            try await engine.commit(holder)
            let next = try engine.begin()
            try engine.write(1, Row(balance: 80), for: next, snapshot: engine.snapshot(for: next))
            try await engine.commit(next)
            #expect(engine.committedBalances() == [1: 80])
        }
    }

    @Test("row locks are released at abort, and the aborted version does not block the next writer")
    func locksReleasedAtAbort() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100])
            let waiting = try engine.begin()
            let waitingSnapshot = try engine.snapshot(for: waiting)
            let holder = try engine.begin()
            try engine.write(1, Row(balance: 90), for: holder, snapshot: engine.snapshot(for: holder))
            try engine.abort(holder)
            // The snapshot predates the abort, but the live version is still the one it saw.
            try engine.write(1, Row(balance: 70), for: waiting, snapshot: waitingSnapshot)
            try await engine.commit(waiting)
            #expect(engine.committedBalances() == [1: 70])
        }
    }

    @Test("first-updater-wins: writing a row committed by another after my snapshot is a concurrent update")
    func firstUpdaterWins() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100, 2: 100])
            let late = try engine.begin()
            let lateSnapshot = try engine.snapshot(for: late)
            let winner = try await engine.commitWrites([1: 50])
            #expect(throws: StorageError.concurrentUpdate(key: 1, by: winner)) {
                try engine.write(1, Row(balance: 1), for: late, snapshot: lateSnapshot)
            }
            #expect(throws: StorageError.concurrentUpdate(key: 1, by: winner)) {
                try engine.lock(1, for: late, snapshot: lateSnapshot)
            }
            #expect(engine.statistics().concurrentUpdateConflicts == 2)
            // A row nobody changed is still writable; read committed (no snapshot) may write row 1.
            try engine.write(2, Row(balance: 1), for: late, snapshot: lateSnapshot)
            try engine.write(1, Row(balance: 2), for: late, snapshot: nil)
            try await engine.commit(late)
            #expect(engine.committedBalances() == [1: 2, 2: 1])
        }
    }

    @Test("begin with an id not above the highest seen is refused")
    func transactionIDsIncrease() async throws {
        try await withEngine { engine in
            let first = try engine.begin(xid: 100)
            #expect(first == 100)
            #expect(throws: StorageError.transactionIDNotIncreasing(100, highest: 100)) {
                try engine.begin(xid: 100)
            }
            #expect(throws: StorageError.transactionIDNotIncreasing(50, highest: 100)) {
                try engine.begin(xid: 50)
            }
            let next = try engine.begin()
            #expect(next == 101)
            #expect(engine.highestTransactionID == 101)
        }
    }

    @Test("inserting a row that exists is a duplicate key; after an aborted insert it is not")
    func duplicateInsert() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100])
            let xid = try engine.begin()
            let snapshot = try engine.snapshot(for: xid)
            #expect(throws: StorageError.duplicateKey(key: 1)) {
                try engine.insert(1, Row(balance: 5), for: xid, snapshot: snapshot)
            }
            try engine.insert(2, Row(balance: 5), for: xid, snapshot: snapshot)
            #expect(throws: StorageError.duplicateKey(key: 2)) {
                try engine.insert(2, Row(balance: 6), for: xid, snapshot: snapshot)
            }
            try engine.abort(xid)

            let again = try engine.begin()
            try engine.insert(2, Row(balance: 8), for: again, snapshot: engine.snapshot(for: again))
            try await engine.commit(again)
            #expect(engine.committedBalances() == [1: 100, 2: 8])
        }
    }

    @Test("a second write of a row by the same transaction overwrites its own version in place")
    func secondWriteOverwrites() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 100])
            let xid = try engine.begin()
            let snapshot = try engine.snapshot(for: xid)
            try engine.write(1, Row(balance: 90), for: xid, snapshot: snapshot)
            try engine.write(1, Row(balance: 80, payload: [1, 2, 3]), for: xid, snapshot: snapshot)
            #expect(engine.statistics().versionsInHeap == 2)
            #expect(try engine.read(1, snapshot: snapshot) == Row(balance: 80, payload: [1, 2, 3]))
            try await engine.commit(xid)
            #expect(
                engine.committedRows() == [CommittedRow(key: 1, row: Row(balance: 80, payload: [1, 2, 3]), xmin: xid)])
        }
    }

    @Test("calls on finished transactions, oversized payloads and a closed engine are refused")
    func refusedCalls() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            let xid = try engine.begin()
            let snapshot = try engine.snapshot(for: xid)
            let tooLarge = Row(balance: 1, payload: [UInt8](repeating: 0, count: Row.maxPayloadBytes + 1))
            #expect(throws: StorageError.payloadTooLarge(key: 1, bytes: Row.maxPayloadBytes + 1)) {
                try engine.write(1, tooLarge, for: xid, snapshot: snapshot)
            }
            let receipt = try await engine.commit(xid)
            #expect(receipt.lsn == nil, "a read-only commit writes no WAL")
            let error = #expect(throws: StorageError.self) {
                try engine.write(1, Row(balance: 1), for: xid, snapshot: nil)
            }
            guard case .notActive(xid, _) = error else {
                Issue.record("expected notActive(\(xid)), got \(String(describing: error))")
                return
            }
            #expect(throws: StorageError.self) { try engine.abort(xid) }
            await #expect(throws: StorageError.self) { try await engine.commit(xid) }

            try engine.close()
            #expect(throws: StorageError.closed) { try engine.begin() }
            #expect(throws: StorageError.closed) { try engine.snapshot(for: xid) }
        }
    }

    @Test("statistics count commits, aborts and versions")
    func statistics() async throws {
        try await withEngine { engine in
            try await engine.commitWrites([1: 1, 2: 2])
            let aborted = try engine.begin()
            try engine.write(1, Row(balance: 5), for: aborted, snapshot: nil)
            try engine.abort(aborted)
            let statistics = engine.statistics()
            #expect(statistics.commits == 1)
            #expect(statistics.aborts == 1)
            #expect(statistics.versionsWritten == 3)
            #expect(statistics.versionsInHeap == 3)
            #expect(statistics.wal.fsyncs == 0)
        }
    }
}
