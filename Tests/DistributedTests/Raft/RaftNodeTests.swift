import Foundation
import Storage
import Testing

@testable import Distributed

@Suite("Raft node", .serialized)
struct RaftNodeTests {
    static func text(_ entry: RaftEntry) -> String { String(decoding: entry.data, as: UTF8.self) }

    /// The (index, term, data) of what a replica applied, for comparisons across replicas.
    static func history(_ machine: RecordingStateMachine?) -> [RaftEntry] { machine?.applied ?? [] }

    /// Proposes `prefix-0 ..< prefix-count` to `leader` one after another and records each
    /// acknowledged index with its text in `acknowledged`.
    static func proposeEach(
        _ group: RaftNodeGroup, _ leader: RaftNodeID, _ prefix: String, count: Int,
        into acknowledged: inout [UInt64: String]
    ) async throws {
        for k in 0..<count {
            let result = try #require(await group.propose(leader, "\(prefix)-\(k)"))
            acknowledged[try result.get()] = "\(prefix)-\(k)"
        }
    }

    /// Every replica applied every acknowledged entry, at the index it was acknowledged with.
    static func expectEveryReplicaApplied(
        _ acknowledged: [UInt64: String], _ group: RaftNodeGroup, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for id in group.ids {
            let applied = history(group.machines[id])
            for (index, text) in acknowledged {
                #expect(
                    applied.first { $0.index == index }.map(Self.text) == text, "replica \(id) lost entry \(index)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    @Test(
        "a 3-node group elects one leader and applies proposals on every replica in the same order",
        arguments: [11, 111, 211] as [UInt64])
    func electAndReplicate(seed: UInt64) async throws {
        let group = try RaftNodeGroup(seed: seed)
        let leader = try #require(await group.waitForLeader(), "no leader elected (seed \(seed))")
        // Sequential proposals, then twenty at once.
        var acknowledged: [UInt64: String] = [:]
        try await Self.proposeEach(group, leader, "seq", count: 5, into: &acknowledged)
        let concurrent = (0..<20).map { group.startProposal(leader, "par-\($0)") }
        #expect(await group.run { concurrent.allSatisfy { $0.value != nil } })
        for (k, outcome) in concurrent.enumerated() {
            acknowledged[try #require(outcome.value).get()] = "par-\(k)"
        }
        #expect(acknowledged.count == 25)
        let last = try #require(acknowledged.keys.max())
        #expect(await group.waitForApplied(last))
        let reference = Self.history(group.machines[leader])
        for id in group.ids {
            #expect(Self.history(group.machines[id]) == reference, "replica \(id) applied another history")
        }
        // Every acknowledged proposal is applied at the index it was acknowledged with.
        for (index, text) in acknowledged {
            #expect(reference.first { $0.index == index }.map(Self.text) == text)
        }
        #expect(reference.map(\.index) == Array(1...UInt64(reference.count)))
        #expect(group.violations.isEmpty, "\(group.violations)")
        let stats = await group.nodes[leader]!.statistics
        #expect(stats.proposalsAcknowledged == 25)
        #expect(stats.elections >= 1)
        #expect(stats.messagesSent > 0 && stats.bytesSent > 0)
        await group.shutdown()
    }

    @Test("a proposal to a follower fails with a redirect naming the leader")
    func followerRedirects() async throws {
        let group = try RaftNodeGroup(seed: 12)
        let leader = try #require(await group.waitForLeader())
        let follower = try #require(group.ids.first { $0 != leader })
        let result = try #require(await group.propose(follower, "to a follower"))
        #expect(result == .failure(.notLeader(leader: leader, address: group.peers[leader])))
        await group.shutdown()
    }

    @Test(
        "the leader's fsyncs equal its append batches, and no entry is written (or synced) twice",
        arguments: [13, 113, 213] as [UInt64])
    func oneFsyncPerAppendBatch(seed: UInt64) async throws {
        let group = try RaftNodeGroup(seed: seed)
        let leader = try #require(await group.waitForLeader())
        let outcomes = (0..<30).map { group.startProposal(leader, "p\($0)") }
        #expect(await group.run { outcomes.allSatisfy { $0.value != nil } })
        let indexes = outcomes.compactMap { outcome -> UInt64? in
            guard case .success(let index) = outcome.value else { return nil }
            return index
        }
        #expect(indexes.count == 30)
        let last = try #require(indexes.max())
        #expect(await group.waitForApplied(last))
        for id in group.ids {
            let node = try #require(group.nodes[id])
            let stats = await node.statistics
            let status = await node.status
            // Counted by the file system itself: every fdatasync of the log is one append batch.
            #expect(group.fileSystems[id]!.calls(.dataSync) == Int(stats.fsyncs))
            #expect(stats.fsyncs == stats.appendBatches, "replica \(id): \(stats)")
            if id == leader {
                // The first leader of a fresh group wrote each entry of its log exactly once.
                #expect(stats.entriesPersisted == status.lastIndex)
                #expect(stats.appendBatches <= stats.entriesPersisted + stats.elections * 2)
                print(
                    "leader \(id): \(stats.entriesPersisted) entries in \(stats.appendBatches) append batches, "
                        + "\(stats.fsyncs) fsyncs")
            }
        }
        await group.shutdown()
    }

    @Test(
        "a node restarted from its log (a torn tail cut off) keeps everything it acknowledged",
        arguments: [14, 114, 214] as [UInt64])
    func restartKeepsAcknowledged(seed: UInt64) async throws {
        let group = try RaftNodeGroup(seed: seed)
        let leader = try #require(await group.waitForLeader())
        var acknowledged: [UInt64: String] = [:]
        try await Self.proposeEach(group, leader, "before", count: 10, into: &acknowledged)
        // Crash the leader and tear the tail of its last segment (an interrupted write).
        await group.crash(leader)
        let segment = try #require(RaftLogStore.segments(in: group.logDirectory(leader)).last)
        let path = RaftLogStore.segmentPath(group.logDirectory(leader), segment)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([0x20, 0, 0, 0, 0xAB, 0xCD, 1, 2, 3]))
        handle.closeFile()
        try group.start(leader)
        let store = try #require(group.stores[leader])
        #expect(store.loadReport.tornBytesCut == 9)
        for (index, text) in acknowledged {
            let entry = store.loaded.entries.first { $0.index == index }
            #expect(entry.map(Self.text) == text, "acknowledged entry \(index) lost by the restarted leader")
        }
        // The group goes on; the restarted replica catches up.
        let newLeader = try #require(await group.waitForLeader())
        try await Self.proposeEach(group, newLeader, "after", count: 5, into: &acknowledged)
        // Crash every replica, then restart them all from their logs.
        for id in group.ids { await group.crash(id) }
        for id in group.ids { try group.start(id) }
        _ = try #require(await group.waitForLeader())
        let last = try #require(acknowledged.keys.max())
        #expect(await group.waitForApplied(last))
        Self.expectEveryReplicaApplied(acknowledged, group)
        #expect(group.violations.isEmpty, "\(group.violations)")
        await group.shutdown()
    }

    @Test(
        "an injected fsync failure stops the leader: its proposal fails, nothing is acknowledged after it",
        arguments: [15, 115, 215] as [UInt64])
    func fsyncFailureStopsTheNode(seed: UInt64) async throws {
        let group = try RaftNodeGroup(seed: seed)
        let leader = try #require(await group.waitForLeader())
        var acknowledged: [UInt64: String] = [:]
        try await Self.proposeEach(group, leader, "ok", count: 3, into: &acknowledged)
        let fileSystem = try #require(group.fileSystems[leader])
        fileSystem.inject(.eio, into: .dataSync, pathContains: "raft-")
        let failed = try #require(await group.propose(leader, "doomed"))
        guard case .failure(.logFailed(.io)) = failed else {
            Issue.record("the proposal whose fsync failed returned \(failed)")
            return
        }
        let node = try #require(group.nodes[leader])
        let acknowledgedAtFailure = await node.statistics.proposalsAcknowledged
        let syncsAtFailure = fileSystem.calls(.dataSync)
        // The node is stopped: later proposals fail with the same error, and its log is never synced again.
        let later = try #require(await group.propose(leader, "after the failure"))
        #expect(later == failed)
        #expect(await node.status.stopped)
        // The others elect a new leader and go on.
        let newLeader = try #require(
            await {
                var found: RaftNodeID?
                _ = await group.run {
                    for id in group.ids where id != leader {
                        if await group.nodes[id]!.status.role == .leader { found = id }
                    }
                    return found != nil
                }
                return found
            }())
        let result = try #require(await group.propose(newLeader, "new leader"))
        acknowledged[try result.get()] = "new leader"
        #expect(fileSystem.calls(.dataSync) == syncsAtFailure, "a failed fsync was retried")
        #expect(await node.statistics.proposalsAcknowledged == acknowledgedAtFailure)
        // Restart the failed replica from its disk: it catches up, and nothing acknowledged is missing.
        await group.crash(leader)
        fileSystem.heal()
        try group.start(leader)
        let last = try #require(acknowledged.keys.max())
        #expect(await group.waitForApplied(last))
        Self.expectEveryReplicaApplied(acknowledged, group)
        #expect(group.violations.isEmpty, "\(group.violations)")
        await group.shutdown()
    }

    /// Partitions the leader away, proposes to it, and returns the outcome and the partitioned leader.
    static func proposeToIsolatedLeader(
        _ group: RaftNodeGroup, _ leader: RaftNodeID
    ) async throws -> Outcome<Result<UInt64, RaftNodeError>> {
        let others = group.ids.filter { $0 != leader }.map { group.peers[$0]! }
        group.transport.configure { $0.partition([[group.peers[leader]!], others]) }
        return group.startProposal(leader, "isolated")
    }

    @Test(
        "async replication acknowledges after the leader's fsync alone; losing that leader loses the entry",
        arguments: [16, 116, 216] as [UInt64])
    func asyncLossOnLeaderCrash(seed: UInt64) async throws {
        let group = try RaftNodeGroup(replication: .async, seed: seed)
        let leader = try #require(await group.waitForLeader())
        var acknowledged: [UInt64: String] = [:]
        let first = try #require(await group.propose(leader, "replicated"))
        acknowledged[try first.get()] = "replicated"
        #expect(await group.waitForApplied(try first.get()))
        // The leader is cut off: its acknowledgement cannot wait for any follower.
        let isolated = try await Self.proposeToIsolatedLeader(group, leader)
        #expect(await group.run { isolated.value != nil })
        let isolatedIndex = try #require(isolated.value).get()
        acknowledged[isolatedIndex] = "isolated"
        for id in group.ids where id != leader {
            #expect(await group.nodes[id]!.entry(at: isolatedIndex) == nil, "follower \(id) has the isolated entry")
        }
        #expect(group.stores[leader]!.persistentState.entries.contains { Self.text($0) == "isolated" })
        // The leader crashes before any follower persisted the entry; the others elect a new leader.
        await group.crash(leader)
        group.transport.configure { $0.heal() }
        let newLeader = try #require(await group.waitForLeader())
        #expect(newLeader != leader)
        let next = try #require(await group.propose(newLeader, "after failover"))
        acknowledged[try next.get()] = "after failover"
        // The old leader restarts from its disk (the acknowledged entry is there) and is overwritten.
        try group.start(leader)
        let last = try #require(acknowledged.keys.max())
        #expect(await group.waitForApplied(last))
        let reference = Self.history(group.machines[newLeader])
        for id in group.ids { #expect(Self.history(group.machines[id]) == reference) }
        let lost = acknowledged.filter { index, text in reference.first { $0.index == index }.map(Self.text) != text }
        #expect(lost.count == 1, "acknowledged and lost: \(lost)")
        #expect(lost[isolatedIndex] == "isolated")
        print("async failover: \(acknowledged.count) acknowledged, \(lost.count) lost")
        #expect(group.violations.isEmpty, "\(group.violations)")
        await group.shutdown()
    }

    @Test(
        "async replication: a deposed leader that survives counts the acknowledged entry it loses",
        arguments: [17, 117, 217] as [UInt64])
    func asyncLossCountedByTheDeposedLeader(seed: UInt64) async throws {
        let group = try RaftNodeGroup(replication: .async, seed: seed)
        let leader = try #require(await group.waitForLeader())
        let isolated = try await Self.proposeToIsolatedLeader(group, leader)
        #expect(await group.run { isolated.value != nil })
        let isolatedIndex = try #require(isolated.value).get()
        // The majority side elects a new leader and commits other entries at the same indexes.
        var newLeader: RaftNodeID?
        #expect(
            await group.run {
                for id in group.ids where id != leader {
                    if await group.nodes[id]!.status.role == .leader { newLeader = id }
                }
                return newLeader != nil
            })
        let majorityLeader = try #require(newLeader)
        for k in 0..<3 {
            _ = try #require(await group.propose(majorityLeader, "majority-\(k)")).get()
        }
        group.transport.configure { $0.heal() }
        #expect(await group.waitForApplied(isolatedIndex + 2))
        let deposed = await group.nodes[leader]!.statistics
        #expect(deposed.acknowledgedLost == 1)
        #expect(await group.nodes[leader]!.entry(at: isolatedIndex).map(Self.text) != "isolated")
        #expect(group.violations.isEmpty, "\(group.violations)")
        await group.shutdown()
    }

    @Test("sync replication never acknowledges what only the leader persisted")
    func syncDoesNotAcknowledgeAlone() async throws {
        let group = try RaftNodeGroup(replication: .sync, seed: 18)
        let leader = try #require(await group.waitForLeader())
        let isolated = try await Self.proposeToIsolatedLeader(group, leader)
        // Well past an election timeout: the leader has persisted the entry but has no quorum.
        for _ in 0..<200 { await group.step() }
        #expect(isolated.value == nil)
        #expect(group.stores[leader]!.persistentState.entries.contains { Self.text($0) == "isolated" })
        await group.crash(leader)
        #expect(await group.run { isolated.value != nil })
        #expect(isolated.value == .failure(.stopped))
        await group.shutdown()
    }

    @Test("a leadership transfer moves the leader; every replica counts one leader change")
    func transferCountsLeaderChange() async throws {
        let group = try RaftNodeGroup(seed: 20)
        let leader = try #require(await group.waitForLeader())
        let index = try #require(await group.propose(leader, "before the transfer")).get()
        #expect(await group.waitForApplied(index))
        let target = try #require(group.ids.first { $0 != leader })
        var before: [RaftNodeID: RaftNodeStatistics] = [:]
        for id in group.ids { before[id] = await group.nodes[id]!.statistics }
        try await group.nodes[leader]!.transferLeadership(to: target)
        #expect(await group.run { await group.agreedLeader() == target })
        for id in group.ids {
            let after = await group.nodes[id]!.statistics
            #expect(after.leaderChanges == before[id]!.leaderChanges + 1, "replica \(id)")
        }
        #expect(await group.nodes[target]!.statistics.elections == before[target]!.elections + 1)
        // The old leader now redirects to the new one.
        let redirected = try #require(await group.propose(leader, "to the old leader"))
        #expect(redirected == .failure(.notLeader(leader: target, address: group.peers[target])))
        #expect(group.violations.isEmpty, "\(group.violations)")
        await group.shutdown()
    }

    @Test("a compacted node restarts from its snapshot plus its log")
    func compactionAndRestart() async throws {
        let group = try RaftNodeGroup(seed: 19)
        let leader = try #require(await group.waitForLeader())
        var last: UInt64 = 0
        for k in 0..<8 { last = try #require(await group.propose(leader, "c\(k)")).get() }
        #expect(await group.waitForApplied(last))
        let follower = try #require(group.ids.first { $0 != leader })
        let snapshot = try await group.nodes[follower]!.compactLog()
        #expect(snapshot.index == last)
        let before = Self.history(group.machines[follower])
        await group.crash(follower)
        try group.start(follower)
        #expect(group.stores[follower]!.loaded.snapshot == snapshot)
        #expect(Self.history(group.machines[follower]) == before)
        let more = try #require(await group.propose(leader, "after compaction")).get()
        #expect(await group.waitForApplied(more))
        #expect(Self.history(group.machines[follower]) == Self.history(group.machines[leader]))
        await group.shutdown()
    }
}
