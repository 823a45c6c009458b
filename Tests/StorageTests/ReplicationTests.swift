import Foundation
import Testing

@testable import Storage

/// L0's side of replication: a leader's write set, its commit without a WAL, and a follower's
/// install of what the leader committed, under the leader's transaction id.
@Suite("Storage replication")
struct StorageReplicationTests {
    static func replicaOptions() -> StorageOptions {
        StorageOptions(durability: .none, checkpointWALBytes: 0, writeAheadLog: false)
    }

    @Test("a replica engine writes no WAL: its commits wait for nothing and leave no record")
    func noWAL() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: Self.replicaOptions())
            try await engine.bulkLoad(keys: 0..<4, row: Row(balance: 10))
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 7), for: xid, snapshot: nil)
            try engine.commitReplicated(xid)
            let wal = engine.statistics().wal
            #expect(wal.bytesWritten == 0 && wal.fsyncs == 0 && wal.writes == 0)
            #expect(engine.committedRow(1)?.row.balance == 7)
            #expect(engine.committedRow(1)?.xmin == xid)
            try engine.close()
        }
    }

    @Test("the write set is each written row's newest version, not rows only locked")
    func writeSet() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: Self.replicaOptions())
            try await engine.bulkLoad(keys: 0..<4, row: Row(balance: 10))
            let xid = try engine.begin()
            try engine.lock(0, for: xid, snapshot: nil)
            try engine.write(2, Row(balance: 5), for: xid, snapshot: nil)
            try engine.write(2, Row(balance: 6), for: xid, snapshot: nil)
            try engine.write(3, Row(balance: 1), for: xid, snapshot: nil)
            #expect(
                try engine.writeSet(of: xid) == [
                    ReplicatedWrite(key: 2, row: Row(balance: 6)), ReplicatedWrite(key: 3, row: Row(balance: 1)),
                ])
            try engine.commitReplicated(xid)
            #expect(throws: StorageError.self) { try engine.writeSet(of: xid) }
            try engine.close()
        }
    }

    @Test("a follower installs committed write sets in log order under the leader's ids; hashes converge")
    func followerConverges() async throws {
        try await withTemporaryDirectory { directory in
            let leader = try StorageEngine(directory: directory + "/leader", options: Self.replicaOptions())
            let follower = try StorageEngine(directory: directory + "/follower", options: Self.replicaOptions())
            try await leader.bulkLoad(keys: 0..<8, row: Row(balance: 100))
            for key in AccountID(0)..<8 {
                guard let row = leader.committedRow(key) else { continue }
                try follower.applyReplicatedLoad(xid: row.xmin, keys: key..<key + 1, row: row.row)
            }
            var random = SplitMix64(seed: 7)
            for _ in 0..<200 {
                let xid = try leader.begin()
                let a = random.next() % 8
                let b = (a + 1 + random.next() % 7) % 8
                try leader.write(a, Row(balance: Int64(random.next() % 1000)), for: xid, snapshot: nil)
                try leader.write(b, Row(balance: Int64(random.next() % 1000)), for: xid, snapshot: nil)
                let writes = try leader.writeSet(of: xid)
                try leader.commitReplicated(xid)
                #expect(try follower.applyReplicated(xid: xid, writes: writes) == 0)
            }
            #expect(leader.stateHash() == follower.stateHash())
            #expect(leader.highestTransactionID == follower.highestTransactionID)
            try leader.close()
            try follower.close()
        }
    }

    @Test("an applied entry aborts a deposed leader's transaction holding one of its rows")
    func deposedHolderAborted() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: Self.replicaOptions())
            try await engine.bulkLoad(keys: 0..<4, row: Row(balance: 10))
            let local = try engine.begin()
            try engine.write(1, Row(balance: 0), for: local, snapshot: nil)
            let remote = engine.highestTransactionID + 100
            #expect(
                try engine.applyReplicated(xid: remote, writes: [ReplicatedWrite(key: 1, row: Row(balance: 3))]) == 1)
            #expect(!engine.isActive(local))
            #expect(engine.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 3), xmin: remote))
            #expect(throws: StorageError.self) { try engine.commitReplicated(local) }
            try engine.close()
        }
    }

    @Test("rows for a snapshot leave out commits made ahead of the log; a restore rebuilds the state")
    func snapshotExcludesAheadAndRestores() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory + "/a", options: Self.replicaOptions())
            try await engine.bulkLoad(keys: 0..<4, row: Row(balance: 10))
            let applied = try engine.begin()
            try engine.write(0, Row(balance: 5), for: applied, snapshot: nil)
            try engine.commitReplicated(applied)
            let ahead = try engine.begin()
            try engine.write(0, Row(balance: 1), for: ahead, snapshot: nil)
            try engine.write(2, Row(balance: 2), for: ahead, snapshot: nil)
            try engine.commitReplicated(ahead)
            let rows = engine.committedRows(excluding: [ahead])
            #expect(rows.first { $0.key == 0 }?.row.balance == 5)
            #expect(rows.first { $0.key == 2 }?.row.balance == 10)
            #expect(engine.committedRows(excluding: []) == engine.committedRows())
            let other = try StorageEngine(directory: directory + "/b", options: Self.replicaOptions())
            let running = try other.begin()
            #expect(try other.restoreReplicated(rows: rows, highestXid: engine.highestTransactionID) == 1)
            #expect(!other.isActive(running))
            #expect(other.committedRows() == rows)
            #expect(try other.begin() > engine.highestTransactionID)
            try engine.close()
            try other.close()
        }
    }

    @Test("an injected id source issues every id, always above the highest seen")
    func transactionIDSource() async throws {
        try await withTemporaryDirectory { directory in
            var options = Self.replicaOptions()
            options.transactionIDs = { highest in max(highest + 1, 1 << 40) }
            let engine = try StorageEngine(directory: directory, options: options)
            let first = try engine.begin()
            let second = try engine.begin()
            #expect(first == 1 << 40 && second == first + 1)
            try engine.abort(first)
            try engine.abort(second)
            try engine.close()
        }
    }
}
