import Foundation
import PropertyBased
import Storage
import Testing

@testable import Distributed
@testable import Engine

@Suite("Replica log entries and state machine")
struct ReplicaStateMachineTests {
    static func replicaStorage(_ directory: String) throws -> StorageEngine {
        try StorageEngine(
            directory: directory,
            options: StorageOptions(durability: .none, checkpointWALBytes: 0, writeAheadLog: false))
    }

    /// A replica's storage and state machine that applied entry 1: accounts 0..<4 loaded with 50.
    static func loadedReplica(_ directory: String) throws -> (StorageEngine, ReplicaStateMachine) {
        let storage = try replicaStorage(directory)
        let machine = ReplicaStateMachine(storage: storage)
        machine.apply(
            RaftEntry(
                term: 1, index: 1, data: ReplicaCommand.load(xid: 10, keys: 0..<4, row: Row(balance: 50)).encoded()))
        return (storage, machine)
    }

    @Test("commands and snapshots decode to what was encoded; a truncated one does not decode")
    func roundTrip() async {
        await propertyCheck(input: Gen.int(in: 0...6), Gen.int(in: 0...40)) { count, payload in
            let writes = (0..<count).map {
                ReplicatedWrite(
                    key: AccountID($0 * 7),
                    row: Row(balance: Int64($0) - 3, payload: [UInt8](repeating: 9, count: payload)))
            }
            let commit = ReplicaCommand.commit(xid: 1 << 50 | UInt64(count), writes: writes)
            #expect(ReplicaCommand.decode(commit.encoded()) == commit)
            let encoded = commit.encoded()
            #expect(ReplicaCommand.decode(Array(encoded.dropLast())) == nil)
            let load = ReplicaCommand.load(xid: 5, keys: 10..<(10 + AccountID(count)), row: Row(balance: 100))
            #expect(ReplicaCommand.decode(load.encoded()) == load)
            let rows = writes.map { CommittedRow(key: $0.key, row: $0.row, xmin: 42) }
            let snapshot = ReplicaSnapshot.encode(rows: rows, highestXid: 99)
            #expect(ReplicaSnapshot.decode(snapshot)?.rows == rows)
            #expect(ReplicaSnapshot.decode(snapshot)?.highestXid == 99)
        }
    }

    @Test("a leader's own entry commits its running transaction; another's is installed under its id")
    func localAndRemoteEntries() async throws {
        try await withDataDirectory { directory in
            let (storage, machine) = try Self.loadedReplica(directory)
            let xid = try storage.begin()
            try storage.write(0, Row(balance: 40), for: xid, snapshot: nil)
            let writes = try storage.writeSet(of: xid)
            machine.willPropose(xid)
            machine.apply(RaftEntry(term: 1, index: 2, data: ReplicaCommand.commit(xid: xid, writes: writes).encoded()))
            #expect(!storage.isActive(xid))
            #expect(storage.committedRow(0)?.xmin == xid)
            let remote = xid + 1_000
            machine.apply(
                RaftEntry(
                    term: 2, index: 3,
                    data: ReplicaCommand.commit(xid: remote, writes: [ReplicatedWrite(key: 1, row: Row(balance: 60))])
                        .encoded()))
            #expect(storage.committedRow(1) == CommittedRow(key: 1, row: Row(balance: 60), xmin: remote))
            #expect(machine.applied == (3, 2))
            #expect(!machine.diverged)
            #expect(machine.counters.undecodable == 0 && machine.counters.applyFailures == 0)
            try storage.close()
        }
    }

    @Test("a commit made ahead of the log (async) that another leader's entry replaces is lost and counted")
    func asyncLossDiverges() async throws {
        try await withDataDirectory { directory in
            let (storage, machine) = try Self.loadedReplica(directory)
            let xid = try storage.begin()
            try storage.write(2, Row(balance: 1), for: xid, snapshot: nil)
            machine.willPropose(xid)
            try machine.commitAhead(xid, index: 2)
            #expect(storage.committedRow(2)?.xmin == xid)
            // The snapshot at the applied index does not contain the speculative commit.
            let snapshot = ReplicaSnapshot.decode(machine.snapshotData())
            #expect(snapshot?.rows.first { $0.key == 2 }?.row.balance == 50)
            // Another leader's entry takes index 2: the acknowledged commit is gone from the log.
            machine.apply(
                RaftEntry(
                    term: 2, index: 2,
                    data: ReplicaCommand.commit(xid: xid + 5, writes: [ReplicatedWrite(key: 3, row: Row(balance: 7))])
                        .encoded()))
            #expect(machine.counters.lostAhead == 1)
            #expect(machine.diverged)
            try storage.close()
        }
    }

    @Test("an entry that applied before the leader's own ack makes the later commit-ahead a no-op")
    func applyBeforeAck() async throws {
        try await withDataDirectory { directory in
            let (storage, machine) = try Self.loadedReplica(directory)
            let xid = try storage.begin()
            try storage.write(2, Row(balance: 1), for: xid, snapshot: nil)
            machine.willPropose(xid)
            machine.apply(
                RaftEntry(
                    term: 1, index: 2,
                    data: ReplicaCommand.commit(xid: xid, writes: try storage.writeSet(of: xid)).encoded()))
            try machine.commitAhead(xid, index: 2)
            #expect(storage.committedRow(2)?.xmin == xid)
            #expect(machine.counters.lostAhead == 0 && !machine.diverged)
            try storage.close()
        }
    }
}
