import Foundation
import Synchronization
import Testing

@testable import Storage

@Suite("Checkpoint")
struct CheckpointTests {
    @Test("automatic checkpoints under concurrent committers: a commit that waited across a checkpoint is fine")
    func automaticCheckpointsUnderConcurrency() async throws {
        try await withTemporaryDirectory { directory in
            // A tiny threshold makes checkpoints run while other commits wait for their flush, so
            // some commits finish with an LSN below the newest redo point.
            let options = StorageOptions(durability: .fsync, checkpointWALBytes: 512)
            let engine = try StorageEngine(directory: directory, options: options)
            let committers = 16
            let rounds = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for committer in 0..<committers {
                    group.addTask {
                        for round in 0..<rounds {
                            let xid = try engine.begin()
                            let key = AccountID(committer * rounds + round)
                            try engine.write(key, Row(balance: Int64(round)), for: xid, snapshot: nil)
                            try await engine.commit(xid)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Checkpoints run on the maintenance thread: one more past the threshold after the
            // first ones finished makes "more than one" structural, not a matter of timing.
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpoints >= 1)
            for key in 0..<16 { try await engine.commitWrites([AccountID(key): -1]) }
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpoints > 1)
            engine.crash()
            let recovered = try StorageEngine(directory: directory, options: options)
            #expect(recovered.committedRows().count == committers * rounds)
            try recovered.close()
        }
    }

    @Test("after a checkpoint the older segments are gone and recovery starts from it")
    func checkpointTruncatesTheLog() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10, 2: 20])
            try engine.checkpoint()
            try await engine.commitWrites([1: 11])
            try engine.checkpoint()
            let redo = try #require(WriteAheadLog.segments(in: directory).first).start
            #expect(WriteAheadLog.segments(in: directory).map(\.start) == [redo])
            #expect(redo > 0)
            let running = try engine.begin()
            try engine.write(2, Row(balance: 0), for: running, snapshot: nil)
            try await engine.commitWrites([3: 30])
            #expect(engine.statistics().checkpoints == 2)
            engine.crash()

            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.recovery.checkpointLoaded)
            #expect(recovered.recovery.redoLSN == redo)
            // Only what follows the checkpoint is replayed: the running write and one commit.
            #expect(recovered.recovery.recordsReplayed == 3)
            #expect(recovered.recovery.committedReplayed == 1)
            #expect(recovered.recovery.abortedInProgress == 1)
            #expect(recovered.committedBalances() == [1: 11, 2: 20, 3: 30])
            #expect(recovered.status(of: running) == .aborted)
            try recovered.close()
        }
    }

    @Test("a transaction running at the checkpoint commits after it, or is aborted by recovery")
    func runningTransactionsAcrossACheckpoint() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10, 2: 20])
            let winner = try engine.begin()
            try engine.write(1, Row(balance: 5), for: winner, snapshot: engine.snapshot(for: winner))
            let loser = try engine.begin()
            try engine.write(2, Row(balance: 7), for: loser, snapshot: engine.snapshot(for: loser))
            try engine.checkpoint()
            try engine.write(3, Row(balance: 15), for: winner, snapshot: nil)
            try await engine.commit(winner)
            engine.crash(losingUnsyncedWrites: true)

            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.recovery.checkpointLoaded)
            #expect(recovered.committedBalances() == [1: 5, 2: 20, 3: 15])
            #expect(recovered.status(of: winner) == .committed)
            #expect(recovered.status(of: loser) == .aborted)
            // The loser's lock is not restored: row 2 is writable.
            try await recovered.commitWrites([2: 21])
            #expect(recovered.committedBalances()[2] == 21)
            try recovered.close()
        }
    }

    @Test("segments a crash left behind before their removal are skipped by replay")
    func leftoverSegmentsAreSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10])
            try await engine.commitWrites([1: 11])
            let old = try #require(WriteAheadLog.segments(in: directory).first)
            let oldBytes = try fileBytes(old.path)
            try engine.checkpoint()
            try await engine.commitWrites([2: 20])
            engine.crash()
            // As if the crash came between writing the checkpoint and removing the old segment.
            try writeFileBytes(oldBytes, to: old.path)

            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.recovery.checkpointLoaded)
            #expect(recovered.recovery.recordsReplayed == 2)
            #expect(recovered.committedBalances() == [1: 11, 2: 20])
            let first = recovered.stateHash()
            recovered.crash()
            let again = try StorageEngine(directory: directory)
            #expect(again.stateHash() == first)
            try again.close()
        }
    }

    @Test(
        "a corrupt checkpoint file is refused with corruptCheckpoint",
        arguments: ["flipped byte", "truncated", "empty"])
    func corruptCheckpoint(_ damage: String) async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10, 2: 20])
            try engine.checkpoint()
            try engine.close()
            let path = directory + "/" + StorageEngine.checkpointFile
            var bytes = try fileBytes(path)
            switch damage {
            case "flipped byte": bytes[bytes.count / 2] ^= 0x10
            case "truncated": bytes.removeLast(5)
            default: bytes = []
            }
            try writeFileBytes(bytes, to: path)
            let error = #expect(throws: StorageError.self) { try StorageEngine(directory: directory) }
            guard case .corruptCheckpoint(let reported, _) = error else {
                Issue.record("expected corruptCheckpoint, got \(String(describing: error))")
                return
            }
            #expect(reported == path)
        }
    }

    @Test("a checkpoint encodes and decodes the whole state")
    func checkpointRoundTrip() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            try await engine.commitWrites([1: 10, 2: 20])
            try await engine.commitWrites([1: -11])
            let prepared = try engine.begin()
            try engine.write(3, Row(balance: 3, payload: [9, 8, 7]), for: prepared, snapshot: nil)
            try await engine.prepare(prepared)
            let running = try engine.begin()
            try engine.lock(2, for: running, snapshot: nil)
            let bytes = engine.state.withLock { StorageEngine.encodeCheckpoint($0, redo: 1234) }
            let (state, redo, transactions) = try StorageEngine.decodeCheckpoint(bytes, path: "test")
            #expect(redo == 1234)
            #expect(state.highestXid == running)
            #expect(state.commitLog.entries == engine.state.withLock { $0.commitLog.entries })
            let decodedHeap = Dictionary(uniqueKeysWithValues: state.heap.rows.map { ($0.key, $0.value.versions) })
            #expect(decodedHeap.mapValues { $0.map(\.xmin) } == engine.heapVersions.mapValues { $0.map(\.xmin) })
            #expect(state.heap[3]?.versions.first?.row == Row(balance: 3, payload: [9, 8, 7]))
            let restored = Dictionary(uniqueKeysWithValues: transactions.map { ($0.xid, $0) })
            #expect(restored[prepared]?.prepared == true)
            #expect(restored[prepared]?.keys == [3])
            #expect(restored[running]?.prepared == false)
            #expect(restored[running]?.keys == [2])
            try engine.close()
        }
    }

    @Test("automatic checkpoints bound the log, and recovery from them keeps every commit")
    func automaticCheckpoints() async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(checkpointWALBytes: 2_048)
            let engine = try StorageEngine(directory: directory, options: options)
            var model: [AccountID: Int64] = [:]
            for round in 0..<100 {
                let writes: [AccountID: Int64] = [AccountID(round % 10): Int64(round), 99: Int64(round)]
                try await engine.commitWrites(writes)
                model.merge(writes) { $1 }
            }
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpoints > 0)
            #expect(WriteAheadLog.segments(in: directory).count <= 2)
            engine.crash(losingUnsyncedWrites: true)
            let recovered = try StorageEngine(directory: directory, options: options)
            #expect(recovered.recovery.checkpointLoaded)
            #expect(recovered.committedBalances() == model)
            try recovered.close()
        }
    }

    @Test("a commit that triggers a failing automatic checkpoint still reports its durable commit")
    func failingAutomaticCheckpointDoesNotFailTheCommit() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(checkpointWALBytes: 1))
            // The checkpoint's temporary file cannot be created: a directory is in its way.
            let blocker = directory + "/" + StorageEngine.checkpointFile + ".tmp"
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
            let xid = try engine.begin()
            try engine.write(1, Row(balance: 10), for: xid, snapshot: nil)
            await #expect(throws: Never.self) { try await engine.commit(xid) }
            #expect(engine.status(of: xid) == .committed)
            // The automatic checkpoint runs on the maintenance thread: wait for it by structure.
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpoints == 0)
            #expect(engine.statistics().checkpointFailures == 1)
            #expect(engine.failure == nil, "a failed open fails only the checkpoint, not the engine")
            #expect(throws: StorageError.self) { try engine.checkpoint() }
            try FileManager.default.removeItem(atPath: blocker)
            try await engine.commitWrites([2: 20])
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpoints == 1)
            engine.crash()
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.committedBalances() == [1: 10, 2: 20])
            try recovered.close()
        }
    }

    @Test(
        "replay over a fuzzy checkpoint image (rows copied before and after later commits) is idempotent",
        arguments: [1, 8])
    func fuzzyImageReplay(pruneChainLength: Int) async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(
                durability: .fsync, checkpointWALBytes: 0, pruneChainLength: pruneChainLength,
                vacuumCommitLogEntries: 0)
            let engine = try StorageEngine(directory: directory, options: options)
            var model: [AccountID: Int64] = [:]
            for key in 0..<64 as Range<AccountID> { model[key] = Int64(key) }
            try await engine.commitWrites(model)
            // A transaction running at the redo point, which commits after it.
            let straddler = try engine.begin()
            try engine.write(3, Row(balance: 333), for: straddler, snapshot: nil)
            // The checkpoint starts: redo point, commit log and running transactions ...
            let header = try engine.state.withLock { s throws(StorageError) -> [UInt8] in
                StorageEngine.encodeCheckpointHeader(s, redo: try engine.wal.requestSegmentSwitch())
            }
            // ... the first half of the shards is copied ...
            var image = header
            let half = Heap.shardCount / 2
            engine.state.withLock { s in
                for shard in 0..<half { StorageEngine.encodeShard(s.heap.shards[shard], into: &image) }
            }
            // ... commits go on between shards (several updates of each row: pruning drops the
            // versions they replaced before the second half is copied) ...
            try engine.write(4, Row(balance: 444), for: straddler, snapshot: nil)
            try await engine.commit(straddler)
            model[3] = 333
            model[4] = 444
            for round in 1...3 as ClosedRange<Int64> {
                var writes: [AccountID: Int64] = [:]
                for key in stride(from: 0, to: 64, by: 2) as StrideTo<AccountID> {
                    writes[key] = 1_000 * round + Int64(key)
                }
                try await engine.commitWrites(writes)
                model.merge(writes) { $1 }
            }
            let loser = try engine.begin()
            try engine.write(5, Row(balance: -5), for: loser, snapshot: nil)
            // ... and the second half reflects them.
            engine.state.withLock { s in
                for shard in half..<Heap.shardCount { StorageEngine.encodeShard(s.heap.shards[shard], into: &image) }
            }
            try engine.wal.waitDurableBlocking(engine.wal.insertLSN)
            image.appendLittleEndian(CRC32C.checksum(image))
            try writeFileBytes(image, to: directory + "/" + StorageEngine.checkpointFile)
            engine.crash()

            let recovered = try StorageEngine(directory: directory, options: options)
            #expect(recovered.recovery.checkpointLoaded)
            #expect(recovered.committedBalances() == model)
            #expect(recovered.rowsWithDuplicateVersions == [], "a record already in the image was applied again")
            #expect(recovered.status(of: loser) == .aborted)
            let hash = recovered.stateHash()
            recovered.crash()
            let again = try StorageEngine(directory: directory, options: options)
            #expect(again.stateHash() == hash)
            #expect(again.committedBalances() == model)
            try again.close()
        }
    }

    @Test("a checkpoint running while committers commit: crash during or after it loses nothing acknowledged")
    func crashDuringConcurrentCheckpoint() async throws {
        for seed in 0..<6 as Range<UInt64> {
            try await withTemporaryDirectory { directory in
                let options = StorageOptions(
                    durability: .fsync, checkpointWALBytes: 0, pruneChainLength: 2, vacuumCommitLogEntries: 0)
                let engine = try StorageEngine(directory: directory, options: options)
                try await engine.bulkLoad(keys: 0..<2_000, row: Row(balance: 0))
                // Committers run while checkpoints run on another thread; the crash comes after
                // a number of commits chosen by the seed, wherever the checkpoint then is.
                let checkpointer = Task.detached {
                    for _ in 0..<3 { try? engine.checkpoint() }
                }
                // Each committer writes its own rows (500 apart), so their models merge.
                let acknowledged = try await withThrowingTaskGroup(of: [AccountID: Int64].self) { group in
                    for committer in 0..<4 as Range<UInt64> {
                        group.addTask {
                            var mine: [AccountID: Int64] = [:]
                            for round in 0..<(20 + seed * 10) {
                                let key = (committer * 500 + round * 7) % 2_000
                                let balance = Int64(round + 1)
                                do {
                                    try await engine.commitWrites([key: balance])
                                    mine[key] = balance
                                } catch { break }
                            }
                            return mine
                        }
                    }
                    return try await group.reduce(into: [AccountID: Int64]()) { $0.merge($1) { $1 } }
                }
                engine.crash(losingUnsyncedWrites: true)
                await checkpointer.value
                let recovered = try StorageEngine(directory: directory, options: options)
                let balances = recovered.committedBalances()
                #expect(balances.count == 2_000, "seed \(seed)")
                for (key, balance) in acknowledged {
                    #expect(balances[key] == balance, "row \(key), seed \(seed)")
                }
                try recovered.close()
            }
        }
    }
}

@Suite("Checkpoint pacing")
struct CheckpointPacingTests {
    @Test("paced by the image, checkpoints of a large heap write at most the WAL's bytes plus one image")
    func writeAmplificationBounded() async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(
                durability: .none, checkpointWALBytes: 4 << 10, vacuumCommitLogEntries: 0,
                paceCheckpointsByImage: true)
            let engine = try StorageEngine(directory: directory, options: options)
            try await engine.bulkLoad(keys: 0..<20_000, row: Row(balance: 1, payload: [UInt8](repeating: 0, count: 32)))
            var random = SplitMix64(seed: 3)
            for _ in 0..<3_000 {
                try await engine.commitWrites([AccountID(random.next() % 20_000): Int64(random.next() % 100)])
            }
            engine.waitForMaintenance()
            let s = engine.statistics()
            #expect(s.checkpoints >= 1)
            #expect(
                s.checkpointBytes <= s.wal.bytesWritten + s.lastCheckpointBytes,
                "\(s.checkpoints) checkpoints wrote \(s.checkpointBytes) bytes for \(s.wal.bytesWritten) WAL bytes")
            try engine.close()
        }
    }
}
