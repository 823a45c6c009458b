import Foundation
import PropertyBased
import Synchronization
import Testing

@testable import Storage

/// L0's side of two-phase commit over replicated logs: a leader prepares without a WAL, a follower
/// installs a prepare entry, the coordinator's decision commits (possibly pushing the commit
/// timestamp above the transaction's id) or aborts, and snapshots keep their meaning throughout.
@Suite("Storage replicated two-phase commit")
struct ReplicatedTwoPhaseTests {
    static func replicaOptions() -> StorageOptions {
        StorageOptions(durability: .none, checkpointWALBytes: 0, writeAheadLog: false)
    }

    /// A replica engine with rows 0..<4 loaded at balance 10.
    static func loadedEngine(_ directory: String) async throws -> StorageEngine {
        let engine = try StorageEngine(directory: directory, options: replicaOptions())
        try await engine.bulkLoad(keys: 0..<4, row: Row(balance: 10))
        return engine
    }

    @Test("a prepared transaction keeps its locks and stays invisible; a commit at its own id publishes it")
    func prepareThenCommitAtOwnID() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.lock(2, for: xid, snapshot: nil)
            try engine.prepareReplicated(xid)
            #expect(engine.status(of: xid) == .prepared)
            #expect(engine.preparedTransactions() == [xid])
            #expect(engine.preparedLocks() == [xid: [1, 2]])
            #expect(engine.statistics().prepares == 1)
            #expect(engine.statistics().wal.bytesWritten == 0)
            #expect(throws: StorageError.notActive(xid, status: "prepared")) { try engine.prepareReplicated(xid) }
            #expect(throws: StorageError.notActive(xid, status: "prepared")) { try engine.writeSet(of: xid) }

            let other = try engine.begin()
            let snapshot = try engine.snapshot(for: other)
            #expect(snapshot.inProgress.contains(xid))
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 10)
            #expect(throws: StorageError.rowLocked(key: 1, holder: xid)) {
                try engine.write(1, Row(balance: 0), for: other, snapshot: snapshot)
            }
            #expect(throws: StorageError.rowLocked(key: 2, holder: xid)) {
                try engine.lock(2, for: other, snapshot: snapshot)
            }
            #expect(engine.committedRow(1)?.row.balance == 10)

            try engine.commitReplicatedPrepared(xid, at: xid)
            #expect(engine.status(of: xid) == .committed)
            #expect(!engine.isActive(xid))
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 7), xmin: xid))
            #expect(engine.statistics().commitTimestampPushes == 0)
            // The old snapshot still does not see it; a new one does; the locks are free.
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 10)
            try engine.abort(other)
            let later = try engine.begin()
            #expect(try engine.read(1, snapshot: engine.snapshot(for: later))?.balance == 7)
            try engine.lock(2, for: later, snapshot: nil)
            try engine.write(1, Row(balance: 8), for: later, snapshot: nil)
            try engine.commitReplicated(later)
            try engine.close()
        }
    }

    @Test("prepareReplicated refuses a transaction that is not running")
    func prepareRefusesNotRunning() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.commitReplicated(xid)
            #expect(throws: StorageError.notActive(xid, status: "committed")) { try engine.prepareReplicated(xid) }
            #expect(throws: StorageError.notActive(999, status: "inProgress")) { try engine.prepareReplicated(999) }
            try engine.close()
        }
    }

    @Test(
        "a pushed commit stamps T on xmin and xmax; a snapshot taken while prepared does not see it even below its xmax"
    )
    func pushStampsTimestampAndKeepsOldSnapshotsBlind() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.write(2, Row(balance: 8), for: xid, snapshot: nil)
            try engine.prepareReplicated(xid)
            // A reader with a higher id, so its snapshot's xmax is above the commit timestamp.
            let reader = try engine.begin(xid: xid + 10)
            let old = try engine.snapshot(for: reader)
            let commitTimestamp = xid + 5
            #expect(old.xmax > commitTimestamp && old.inProgress.contains(xid))

            try engine.commitReplicatedPrepared(xid, at: commitTimestamp)
            #expect(engine.status(of: commitTimestamp) == .committed)
            #expect(engine.status(of: xid) == .aborted, "the original id is no longer a committed transaction")
            #expect(!engine.isActive(xid))
            #expect(engine.statistics().commitTimestampPushes == 1)
            #expect(engine.highestTransactionID == xid + 10)
            let versions = engine.heapVersions
            for key: AccountID in [1, 2] {
                #expect(versions[key]?.map(\.xmin).contains(xid) == false)
                #expect(versions[key]?.map(\.xmax).contains(xid) == false)
                #expect(versions[key]?.last?.xmin == commitTimestamp)
                #expect(versions[key]?.first?.xmax == commitTimestamp)
            }
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 7), xmin: commitTimestamp))

            // The alias case: T < old.xmax and T not in old.inProgress, yet T's original was.
            #expect(try engine.read(1, snapshot: old)?.balance == 10)
            #expect(try engine.read(2, snapshot: old)?.balance == 10)
            // First-updater-wins sees the push too: the reader may not overwrite it.
            #expect(throws: StorageError.concurrentUpdate(key: 1, by: commitTimestamp)) {
                try engine.write(1, Row(balance: 0), for: reader, snapshot: old)
            }
            try engine.abort(reader)

            let after = try engine.begin()
            let fresh = try engine.snapshot(for: after)
            #expect(try engine.read(1, snapshot: fresh)?.balance == 7)
            #expect(try engine.read(2, snapshot: fresh)?.balance == 8)
            // The locks are released: the next writer takes the row.
            try engine.write(1, Row(balance: 6), for: after, snapshot: fresh)
            try engine.commitReplicated(after)
            #expect(engine.committedRow(1)?.row.balance == 6)
            try engine.close()
        }
    }

    @Test("a push above every id seen raises the highest id, and later ids stay above it")
    func pushAboveHighest() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(3, Row(balance: 1), for: xid, snapshot: nil)
            try engine.prepareReplicated(xid)
            let commitTimestamp = xid + 1_000
            try engine.commitReplicatedPrepared(xid, at: commitTimestamp)
            #expect(engine.highestTransactionID == commitTimestamp)
            #expect(throws: StorageError.transactionIDNotIncreasing(commitTimestamp, highest: commitTimestamp)) {
                try engine.begin(xid: commitTimestamp)
            }
            let next = try engine.begin()
            #expect(next > commitTimestamp)
            #expect(try engine.read(3, snapshot: engine.snapshot(for: next))?.balance == 1)
            try engine.close()
        }
    }

    @Test("an abort of a prepared transaction releases its locks and leaves the old rows")
    func abortPrepared() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.prepareReplicated(xid)
            try engine.abortReplicatedPrepared(xid)
            #expect(engine.status(of: xid) == .aborted)
            #expect(!engine.isActive(xid))
            #expect(engine.preparedTransactions().isEmpty)
            #expect(engine.committedRow(1)?.row.balance == 10)
            #expect(throws: StorageError.notActive(xid, status: "aborted")) { try engine.abortReplicatedPrepared(xid) }
            #expect(throws: StorageError.notActive(xid, status: "aborted")) {
                try engine.commitReplicatedPrepared(xid, at: xid)
            }
            let next = try engine.begin()
            let snapshot = try engine.snapshot(for: next)
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 10)
            try engine.write(1, Row(balance: 9), for: next, snapshot: snapshot)
            try engine.commitReplicated(next)
            #expect(engine.committedRow(1)?.row.balance == 9)
            // A running (not prepared) transaction is refused and left running.
            let running = try engine.begin()
            #expect(throws: StorageError.notActive(running, status: "active")) {
                try engine.abortReplicatedPrepared(running)
            }
            #expect(engine.isActive(running))
            try engine.close()
        }
    }

    @Test(
        "a commit timestamp below the id, or one another transaction has, is refused and the transaction stays prepared"
    )
    func refusedCommitTimestamps() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            let committed = try engine.begin()
            try engine.write(2, Row(balance: 1), for: committed, snapshot: nil)
            try engine.commitReplicated(committed)
            let running = try engine.begin()
            try engine.prepareReplicated(xid)

            #expect(throws: StorageError.commitTimestampBelowTransaction(xid, commitTimestamp: xid - 1)) {
                try engine.commitReplicatedPrepared(xid, at: xid - 1)
            }
            #expect(throws: StorageError.commitTimestampInUse(xid, commitTimestamp: committed)) {
                try engine.commitReplicatedPrepared(xid, at: committed)
            }
            #expect(throws: StorageError.commitTimestampInUse(xid, commitTimestamp: running)) {
                try engine.commitReplicatedPrepared(xid, at: running)
            }
            #expect(engine.preparedTransactions() == [xid])
            #expect(engine.status(of: xid) == .prepared)
            #expect(engine.committedRow(2) == CommittedRow(key: 2, row: Row(balance: 1), xmin: committed))

            // A running transaction is refused with notActive and left running.
            #expect(throws: StorageError.notActive(running, status: "active")) {
                try engine.commitReplicatedPrepared(running, at: running)
            }
            #expect(engine.isActive(running))

            // A timestamp used by an earlier push is taken too.
            let second = try engine.begin()
            try engine.write(3, Row(balance: 3), for: second, snapshot: nil)
            try engine.prepareReplicated(second)
            let pushed = second + 100
            try engine.commitReplicatedPrepared(xid, at: pushed)
            #expect(throws: StorageError.commitTimestampInUse(second, commitTimestamp: pushed)) {
                try engine.commitReplicatedPrepared(second, at: pushed)
            }
            #expect(engine.preparedTransactions() == [second])
            try engine.close()
        }
    }

    @Test("a follower installing the prepare entry and the pushed decision reaches the leader's state")
    func followerPathMatchesLeader() async throws {
        try await withTemporaryDirectory { directory in
            let leader = try await Self.loadedEngine(directory + "/leader")
            let follower = try StorageEngine(directory: directory + "/follower", options: Self.replicaOptions())
            for row in leader.committedRows() {
                try follower.applyReplicatedLoad(xid: row.xmin, keys: row.key..<row.key + 1, row: row.row)
            }
            #expect(leader.stateHash() == follower.stateHash())
            let loaded = Set(leader.committedRows().map(\.xmin))

            var decisions: [(xid: TransactionID, commitTimestamp: TransactionID?)] = []
            var prepared: [(xid: TransactionID, writes: [ReplicatedWrite])] = []
            for round in 0..<6 {
                let xid = try leader.begin(xid: leader.highestTransactionID + 10)
                let keys: [AccountID] = [AccountID(round % 4), AccountID((round + 1) % 4)]
                for key in keys {
                    try leader.write(key, Row(balance: Int64(round * 10) + Int64(key)), for: xid, snapshot: nil)
                }
                let writes = try leader.writeSet(of: xid)
                try leader.prepareReplicated(xid)
                #expect(try follower.applyReplicatedPrepare(xid: xid, writes: writes) == 0)
                #expect(follower.preparedTransactions() == [xid])
                #expect(follower.preparedLocks() == [xid: keys])
                #expect(follower.status(of: xid) == .prepared)
                // Prepared versions are in no committed view.
                #expect(leader.stateHash() == follower.stateHash())
                #expect(leader.preparedWriteSets().map(\.xid) == [xid])
                #expect(follower.preparedWriteSets().map(\.writes) == [writes])
                prepared.append((xid, writes))
                let decision: TransactionID? =
                    switch round % 3 {
                    case 0: xid
                    case 1: xid + 3
                    default: nil
                    }
                if let decision {
                    try leader.commitReplicatedPrepared(xid, at: decision)
                    try follower.commitReplicatedPrepared(xid, at: decision)
                } else {
                    try leader.abortReplicatedPrepared(xid)
                    try follower.abortReplicatedPrepared(xid)
                }
                decisions.append((xid, decision))
                #expect(leader.stateHash() == follower.stateHash())
                #expect(leader.committedRows() == follower.committedRows())
            }
            #expect(leader.statistics().commitTimestampPushes == 2)
            #expect(follower.statistics().commitTimestampPushes == 2)
            #expect(follower.highestTransactionID == leader.highestTransactionID)
            #expect(follower.preparedTransactions().isEmpty)
            // Every committed row carries its decision's timestamp.
            for row in leader.committedRows() where !loaded.contains(row.xmin) {
                #expect(decisions.contains { $0.commitTimestamp == row.xmin })
            }
            try leader.close()
            try follower.close()
        }
    }

    @Test("replaying a prepare entry is idempotent, before and after its decision")
    func idempotentReplay() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = engine.highestTransactionID + 10
            let writes = [ReplicatedWrite(key: 1, row: Row(balance: 4)), ReplicatedWrite(key: 2, row: Row(balance: 5))]
            #expect(try engine.applyReplicatedPrepare(xid: xid, writes: writes) == 0)
            let versions = engine.statistics().versionsInHeap
            let heap = engine.heapVersions.mapValues { $0.map { "\($0.xmin)/\($0.xmax)/\($0.row.balance)" } }
            #expect(try engine.applyReplicatedPrepare(xid: xid, writes: writes) == 0)
            #expect(engine.statistics().versionsInHeap == versions)
            #expect(engine.heapVersions.mapValues { $0.map { "\($0.xmin)/\($0.xmax)/\($0.row.balance)" } } == heap)
            #expect(engine.preparedTransactions() == [xid])
            #expect(engine.highestTransactionID == xid)

            try engine.commitReplicatedPrepared(xid, at: xid + 2)
            let decided = engine.heapVersions.mapValues { $0.map { "\($0.xmin)/\($0.xmax)/\($0.row.balance)" } }
            #expect(try engine.applyReplicatedPrepare(xid: xid, writes: writes) == 0)
            #expect(engine.preparedTransactions().isEmpty)
            #expect(engine.heapVersions.mapValues { $0.map { "\($0.xmin)/\($0.xmax)/\($0.row.balance)" } } == decided)
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 4), xmin: xid + 2))
            try engine.close()
        }
    }

    @Test(
        "a prepare entry aborts a deposed leader's running holder, and refuses a row another prepared transaction holds"
    )
    func applyPrepareAgainstHolders() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let local = try engine.begin()
            try engine.write(1, Row(balance: 0), for: local, snapshot: nil)
            let remote = engine.highestTransactionID + 100
            #expect(
                try engine.applyReplicatedPrepare(xid: remote, writes: [ReplicatedWrite(key: 1, row: Row(balance: 3))])
                    == 1)
            #expect(!engine.isActive(local))
            #expect(engine.status(of: local) == .aborted)
            #expect(engine.preparedLocks() == [remote: [1]])
            #expect(throws: StorageError.notActive(local, status: "aborted")) { try engine.commitReplicated(local) }

            // Another prepared transaction on the same row: an error, and nothing changes.
            let intruder = remote + 10
            let before = engine.heapVersions.mapValues(\.count)
            #expect(throws: StorageError.rowLockedByPrepared(key: 1, holder: remote)) {
                try engine.applyReplicatedPrepare(
                    xid: intruder,
                    writes: [
                        ReplicatedWrite(key: 2, row: Row(balance: 1)), ReplicatedWrite(key: 1, row: Row(balance: 1)),
                    ])
            }
            #expect(engine.heapVersions.mapValues(\.count) == before)
            #expect(engine.preparedTransactions() == [remote])
            #expect(engine.status(of: intruder) == .inProgress)
            // A local writer is refused by the prepared holder's lock.
            let writer = try engine.begin()
            #expect(throws: StorageError.rowLocked(key: 1, holder: remote)) {
                try engine.write(1, Row(balance: 2), for: writer, snapshot: nil)
            }
            try engine.commitReplicatedPrepared(remote, at: remote)
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 3), xmin: remote))
            try engine.close()
        }
    }

    @Test("a leader applying its own prepare entry through the log prepares its running transaction in place")
    func applyPrepareOnOwnRunningTransaction() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.lock(2, for: xid, snapshot: nil)
            let writes = try engine.writeSet(of: xid)
            let versions = engine.statistics().versionsInHeap
            #expect(try engine.applyReplicatedPrepare(xid: xid, writes: writes) == 0)
            #expect(engine.statistics().versionsInHeap == versions, "its own version is overwritten, not doubled")
            #expect(engine.rowsWithDuplicateVersions.isEmpty)
            #expect(engine.preparedTransactions() == [xid])
            #expect(engine.preparedLocks() == [xid: [1, 2]])
            #expect(engine.status(of: xid) == .prepared)
            try engine.commitReplicatedPrepared(xid, at: xid + 1)
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 7), xmin: xid + 1))
            #expect(engine.preparedLocks().isEmpty)
            try engine.close()
        }
    }

    @Test("a restore refuses two prepared write sets naming one row, and changes nothing")
    func restoreRefusesOverlappingPreparedSets() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let rows = engine.committedRows()
            let hash = engine.stateHash()
            let running = try engine.begin()
            let sets: [(xid: TransactionID, writes: [ReplicatedWrite])] = [
                (running + 10, [ReplicatedWrite(key: 1, row: Row(balance: 1))]),
                (
                    running + 20,
                    [ReplicatedWrite(key: 2, row: Row(balance: 2)), ReplicatedWrite(key: 1, row: Row(balance: 3))]
                ),
            ]
            #expect(throws: StorageError.rowLockedByPrepared(key: 1, holder: running + 10)) {
                try engine.restoreReplicated(rows: rows, highestXid: running, prepared: sets)
            }
            #expect(engine.isActive(running))
            #expect(engine.preparedTransactions().isEmpty)
            #expect(engine.stateHash() == hash)
            try engine.close()
        }
    }

    @Test("committed views leave prepared versions out; a snapshot's prepared write sets restore with their locks")
    func preparedStateSurvivesRestore() async throws {
        try await withTemporaryDirectory { directory in
            let leader = try await Self.loadedEngine(directory + "/leader")
            let settled = try leader.begin()
            try leader.write(0, Row(balance: 1), for: settled, snapshot: nil)
            try leader.commitReplicated(settled)
            let rowsBefore = leader.committedRows()
            let hashBefore = leader.stateHash()
            let xid = try leader.begin()
            try leader.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try leader.write(0, Row(balance: 2), for: xid, snapshot: nil)
            let second = try leader.begin()
            try leader.write(3, Row(balance: 9), for: second, snapshot: nil)
            try leader.prepareReplicated(second)
            try leader.prepareReplicated(xid)
            #expect(leader.committedRows() == rowsBefore)
            #expect(leader.committedRows(excluding: [settled + 1_000]) == rowsBefore)
            #expect(leader.stateHash() == hashBefore)
            let sets = leader.preparedWriteSets()
            #expect(sets.map(\.xid) == [xid, second])
            #expect(
                sets[0].writes == [
                    ReplicatedWrite(key: 1, row: Row(balance: 7)), ReplicatedWrite(key: 0, row: Row(balance: 2)),
                ])
            #expect(sets[1].writes == [ReplicatedWrite(key: 3, row: Row(balance: 9))])

            let other = try StorageEngine(directory: directory + "/other", options: Self.replicaOptions())
            let deposed = try other.begin()
            #expect(
                try other.restoreReplicated(rows: rowsBefore, highestXid: leader.highestTransactionID, prepared: sets)
                    == 1)
            #expect(!other.isActive(deposed))
            #expect(other.preparedTransactions() == [xid, second])
            #expect(other.preparedLocks() == [xid: [1, 0], second: [3]])
            #expect(other.committedRows() == rowsBefore)
            #expect(other.preparedWriteSets().map(\.xid) == sets.map(\.xid))
            #expect(other.preparedWriteSets().map(\.writes) == sets.map(\.writes))
            let writer = try other.begin()
            #expect(writer > leader.highestTransactionID)
            let snapshot = try other.snapshot(for: writer)
            #expect(snapshot.inProgress.isSuperset(of: [xid, second]))
            #expect(try other.read(1, snapshot: snapshot)?.balance == 10)
            #expect(throws: StorageError.rowLocked(key: 1, holder: xid)) {
                try other.write(1, Row(balance: 0), for: writer, snapshot: snapshot)
            }
            try other.abort(writer)

            // The decisions reach both the same way.
            let pushed = leader.highestTransactionID + 50
            for engine in [leader, other] {
                try engine.commitReplicatedPrepared(xid, at: pushed)
                try engine.abortReplicatedPrepared(second)
            }
            #expect(leader.committedRows() == other.committedRows())
            #expect(leader.stateHash() == other.stateHash())
            #expect(other.committedRow(0) == CommittedRow(key: 0, row: Row(balance: 2), xmin: pushed))
            #expect(other.committedRow(3)?.row.balance == 10)
            try leader.close()
            try other.close()
        }
    }

    @Test("vacuum after pushed commits keeps every open snapshot's view, then prunes the aliases it no longer needs")
    func vacuumKeepsVisibilityAndPrunesAliases() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try await Self.loadedEngine(directory)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.prepareReplicated(xid)
            let reader = try engine.begin(xid: xid + 10)
            let old = try engine.snapshot(for: reader)
            try engine.commitReplicatedPrepared(xid, at: xid + 5)
            // Two more pushed commits of row 1 while the reader is open.
            for round in 1...2 {
                let next = try engine.begin(xid: engine.highestTransactionID + 10)
                try engine.write(1, Row(balance: 7 + Int64(round)), for: next, snapshot: nil)
                try engine.prepareReplicated(next)
                try engine.commitReplicatedPrepared(next, at: next + 5)
            }
            #expect(engine.state.withLock { $0.commitLog.aliases.count } == 3)

            for freeze in [false, true] {
                let report = engine.vacuum(freeze: freeze)
                #expect(report.horizon == xid, "the reader's snapshot (xid was running) holds the horizon")
                #expect(try engine.read(1, snapshot: old)?.balance == 10)
                #expect(engine.state.withLock { $0.commitLog.aliases.count } == 3, "the reader still needs them")
            }
            try engine.abort(reader)

            let report = engine.vacuum(freeze: true)
            #expect(report.horizon == engine.highestTransactionID + 1)
            #expect(report.aliasesRemoved == 3)
            #expect(engine.state.withLock { $0.commitLog.aliases.isEmpty })
            #expect(engine.statistics().commitLogEntries == 0)
            #expect(engine.heapVersions[1]?.count == 1)
            #expect(engine.heapVersions[1]?.first?.frozen == true)
            #expect(
                engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 9), xmin: engine.highestTransactionID))
            let next = try engine.begin()
            #expect(try engine.read(1, snapshot: engine.snapshot(for: next))?.balance == 9)
            engine.assertVacuumMapInvariant()
            try engine.close()
        }
    }

    @Test("a snapshot sees exactly the transactions committed before it, whatever prepares, pushes and aborts follow")
    func snapshotsUnderPreparesPushesAndAborts() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...1_000_000)) { seed in
            await failOnThrow("seed \(seed)") {
                try await withTemporaryDirectory { directory in
                    var scenario = try await ReplicatedTwoPhaseScenario(seed: UInt64(seed), directory: directory)
                    try scenario.run()
                }
            }
        }
    }
}

/// A random interleaving of writers (running, prepared, committed at their id or pushed, aborted),
/// readers holding snapshots, and vacuum passes, checked against a model of the committed state.
/// A follower applies every prepare entry and decision, and is now and then restored from the
/// leader's committed rows and prepared write sets (a Raft snapshot); it ends with the leader's state.
struct ReplicatedTwoPhaseScenario {
    static let keys: [AccountID] = Array(0..<6)
    /// Ids are issued 10 apart so a push (xid + 1...9) lands between two transactions' ids.
    static let idGap: TransactionID = 10

    struct Writer {
        var xid: TransactionID
        var balances: [AccountID: Int64]
        var prepared: Bool
    }

    struct Reader {
        var xid: TransactionID
        var snapshot: Snapshot
        var expected: [AccountID: Int64]
    }

    var random: SeededGenerator
    let seed: UInt64
    let engine: StorageEngine
    let follower: StorageEngine
    var model: [AccountID: Int64] = [:]
    var writers: [Writer] = []
    var readers: [Reader] = []
    var nextID: TransactionID

    init(seed: UInt64, directory: String) async throws {
        self.seed = seed
        random = SeededGenerator(seed: seed)
        engine = try StorageEngine(directory: directory, options: ReplicatedTwoPhaseTests.replicaOptions())
        try await engine.bulkLoad(keys: 0..<AccountID(Self.keys.count), row: Row(balance: 0))
        for key in Self.keys { model[key] = 0 }
        nextID = engine.highestTransactionID + Self.idGap
        follower = try StorageEngine(
            directory: directory + "/follower", options: ReplicatedTwoPhaseTests.replicaOptions())
        try follower.restoreReplicated(rows: engine.committedRows(), highestXid: engine.highestTransactionID)
    }

    mutating func issue() -> TransactionID {
        defer { nextID += Self.idGap }
        return nextID
    }

    func check(_ reader: Reader) throws {
        for key in Self.keys {
            let seen = try engine.read(key, snapshot: reader.snapshot)?.balance
            #expect(seen == reader.expected[key], "seed \(seed): reader \(reader.xid), row \(key)")
        }
    }

    mutating func step() throws {
        switch Int.random(in: 0..<10, using: &random) {
        case 0, 1:
            let locked = Set(writers.flatMap(\.balances.keys))
            let free = Self.keys.filter { !locked.contains($0) }
            guard !free.isEmpty else { return }
            let xid = try engine.begin(xid: issue())
            var balances: [AccountID: Int64] = [:]
            for key in free.shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random)) {
                balances[key] = Int64.random(in: 1...1_000, using: &random)
                try engine.write(key, Row(balance: balances[key]!), for: xid, snapshot: nil)
            }
            writers.append(Writer(xid: xid, balances: balances, prepared: false))
        case 2:
            guard let index = writers.indices.filter({ !writers[$0].prepared }).randomElement(using: &random) else {
                return
            }
            let xid = writers[index].xid
            let writes = try engine.writeSet(of: xid)
            try engine.prepareReplicated(xid)
            #expect(try follower.applyReplicatedPrepare(xid: xid, writes: writes) == 0, "seed \(seed)")
            writers[index].prepared = true
        case 3, 4:
            guard let index = writers.indices.filter({ writers[$0].prepared }).randomElement(using: &random) else {
                return
            }
            let writer = writers.remove(at: index)
            if random.chance(25) {
                try engine.abortReplicatedPrepared(writer.xid)
                try follower.abortReplicatedPrepared(writer.xid)
            } else {
                let push = random.chance(60) ? TransactionID.random(in: 1..<Self.idGap, using: &random) : 0
                try engine.commitReplicatedPrepared(writer.xid, at: writer.xid + push)
                try follower.commitReplicatedPrepared(writer.xid, at: writer.xid + push)
                for (key, balance) in writer.balances { model[key] = balance }
            }
        case 5:
            let xid = try engine.begin(xid: issue())
            readers.append(Reader(xid: xid, snapshot: try engine.snapshot(for: xid), expected: model))
        case 6:
            guard let index = readers.indices.randomElement(using: &random) else { return }
            try check(readers[index])
            if random.chance(50) {
                try engine.abort(readers.remove(at: index).xid)
            }
        case 7:
            engine.vacuum(freeze: random.chance(50))
        case 8:
            let restored = try follower.restoreReplicated(
                rows: engine.committedRows(), highestXid: engine.highestTransactionID,
                prepared: engine.preparedWriteSets())
            #expect(restored == 0, "seed \(seed): the follower's prepared transactions are carried over")
            #expect(follower.preparedTransactions() == engine.preparedTransactions(), "seed \(seed)")
        default:
            // A writer still running when its leader is deposed: the abort a replicated runtime does.
            guard let index = writers.indices.filter({ !writers[$0].prepared }).randomElement(using: &random) else {
                return
            }
            try engine.abort(writers.remove(at: index).xid)
        }
    }

    mutating func run() throws {
        for _ in 0..<120 { try step() }
        for reader in readers { try check(reader) }
        for reader in readers { try engine.abort(reader.xid) }
        readers = []
        for writer in writers {
            if writer.prepared {
                try engine.abortReplicatedPrepared(writer.xid)
                try follower.abortReplicatedPrepared(writer.xid)
            } else {
                try engine.abort(writer.xid)
            }
        }
        writers = []
        #expect(follower.committedRows() == engine.committedRows(), "seed \(seed)")
        #expect(follower.stateHash() == engine.stateHash(), "seed \(seed)")
        #expect(follower.preparedTransactions().isEmpty, "seed \(seed)")
        try follower.close()
        engine.vacuum(freeze: true)
        #expect(engine.state.withLock { $0.commitLog.aliases.isEmpty }, "seed \(seed)")
        #expect(engine.committedBalances() == model, "seed \(seed)")
        let xid = try engine.begin()
        let snapshot = try engine.snapshot(for: xid)
        for key in Self.keys {
            #expect(try engine.read(key, snapshot: snapshot)?.balance == model[key], "seed \(seed): row \(key)")
        }
        try engine.close()
    }
}
