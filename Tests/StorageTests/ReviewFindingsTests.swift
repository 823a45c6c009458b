import Foundation
import Synchronization
import Testing

@testable import Storage

/// A file system that runs a hook (once) just before the first write to a path containing
/// `pathContains`: a test's way to act at an exact step of a checkpoint (after its redo point
/// and header, before its shards are copied) without timing.
private final class HookedFileSystem: StorageFileSystem {
    private let base = PosixFileSystem.shared
    private let pathContains: String
    private let hook = Mutex<(@Sendable () -> Void)?>(nil)

    init(pathContains: String) {
        self.pathContains = pathContains
    }

    func arm(_ body: @escaping @Sendable () -> Void) {
        hook.withLock { $0 = body }
    }

    func open(_ path: String, truncating: Bool) throws(StorageError) -> Int32 {
        try base.open(path, truncating: truncating)
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        if path.contains(pathContains),
            let body = hook.withLock({ h -> (@Sendable () -> Void)? in
                defer { h = nil }
                return h
            })
        {
            body()
        }
        try base.write(fd, bytes, path: path)
    }

    func dataSync(_ fd: Int32, path: String) throws(StorageError) { try base.dataSync(fd, path: path) }
    func close(_ fd: Int32) { base.close(fd) }
    func resize(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        try base.resize(fd, to: size, path: path)
    }
    func rename(_ source: String, to destination: String) throws(StorageError) {
        try base.rename(source, to: destination)
    }
    func syncDirectory(_ path: String) throws(StorageError) { try base.syncDirectory(path) }
    func truncate(_ path: String, to size: Int) throws(StorageError) { try base.truncate(path, to: size) }
    func remove(_ path: String) throws(StorageError) { try base.remove(path) }
}

/// Regression tests for defects found by the outside review of issue 7 (fuzzy checkpoints,
/// freezing, bulk load), each at an exact step of the engine rather than by timing.
@Suite("Review findings: storage")
struct StorageReviewFindingsTests {
    /// A checkpoint's image reflects every record up to the moment its shards are copied. With
    /// durability `none` those records are written but not fsynced, so a power failure can cut
    /// them off the WAL while the (fsynced) image keeps their versions: a transaction that began
    /// after the redo point then leaves a version whose `xmin` is above the recovered highest id,
    /// and the next transaction gets that id and reads the stranger's version as its own.
    @Test(
        "a power failure after a checkpoint with durability none leaves no version the WAL does not explain",
        arguments: [Durability.none, .fsync])
    func checkpointImageIsBackedByDurableWAL(durability: Durability) async throws {
        try await withTemporaryDirectory { directory in
            let fileSystem = HookedFileSystem(pathContains: StorageEngine.checkpointFile)
            let options = StorageOptions(
                durability: durability, checkpointWALBytes: 0, vacuumCommitLogEntries: 0, fileSystem: fileSystem)
            var engine = try StorageEngine(directory: directory, options: options)
            try await engine.commitWrites([1: 100, 2: 100])
            // After the header (redo point, highest id) and before the shards: a transaction
            // begins and writes row 1 without committing.
            let strangerBox = Mutex<TransactionID>(0)
            let hookEngine = engine
            fileSystem.arm {
                guard let xid = try? hookEngine.begin(), let snapshot = try? hookEngine.snapshot(for: xid) else {
                    return
                }
                try? hookEngine.write(1, Row(balance: 999), for: xid, snapshot: snapshot)
                strangerBox.withLock { $0 = xid }
            }
            try engine.checkpoint()
            let stranger = strangerBox.withLock { $0 }
            #expect(stranger != 0, "the hook ran")
            engine.crash(losingUnsyncedWrites: true)

            engine = try StorageEngine(directory: directory, options: options)
            #expect(engine.committedBalances() == [1: 100, 2: 100])
            let highest = engine.highestTransactionID
            for (key, versions) in engine.heapVersions {
                for version in versions where version.xmin > highest {
                    Issue.record("row \(key) has a version by \(version.xmin) above the highest id \(highest)")
                }
            }
            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 100, "reader \(reader), stranger \(stranger)")
            try engine.abort(reader)
            try engine.close()
        }
    }
}

extension StorageReviewFindingsTests {
    /// A bulk load that fails part way (a duplicate key in a later chunk) aborts, leaving the
    /// rows of its earlier chunks as dead versions until vacuum. The load's duplicate check read
    /// "a chain exists" as "the row exists", so loading those keys again failed with 23505
    /// although no snapshot can see any of them (as `insert` does, a dead row is no duplicate).
    @Test("a bulk load after an aborted one succeeds, and replays to the same rows")
    func bulkLoadOverAbortedLoad() async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(checkpointWALBytes: 0, vacuumCommitLogEntries: 0)
            var engine = try StorageEngine(directory: directory, options: options)
            let chunk = AccountID(StorageEngine.bulkLoadChunkRows)
            let existing = chunk + 5
            try await engine.commitWrites([existing: 7])
            await #expect(throws: StorageError.duplicateKey(key: existing)) {
                try await engine.bulkLoad(keys: 0..<(chunk * 2), row: Row(balance: 100))
            }
            #expect(engine.committedBalances() == [existing: 7], "the failed load is invisible")
            // The first chunk's rows are dead (their creator aborted), not duplicates.
            let xid = try await engine.bulkLoad(keys: 0..<chunk, row: Row(balance: 100))
            var expected: [AccountID: Int64] = [existing: 7]
            for key in 0..<chunk { expected[key] = 100 }
            #expect(engine.committedBalances() == expected)
            #expect(engine.committedRows().filter { $0.key < chunk }.allSatisfy { $0.xmin == xid })
            // Dead versions of the aborted load plus one live version per row (the count is
            // kept incrementally; `statistics` checks it against the heap).
            #expect(engine.statistics().versionsInHeap == Int(chunk) * 2 + 1)
            // A live row is still a duplicate.
            await #expect(throws: StorageError.duplicateKey(key: 3)) {
                try await engine.bulkLoad(keys: 3..<4, row: Row(balance: 1))
            }
            engine.crash()
            engine = try StorageEngine(directory: directory, options: options)
            #expect(engine.committedBalances() == expected, "replay gives the same rows")
            #expect(engine.rowsWithDuplicateVersions == [])
            engine.vacuum(freeze: true)
            #expect(engine.committedBalances() == expected)
            try engine.close()
        }
    }
}

extension StorageReviewFindingsTests {
    /// A segment before the checkpoint's redo point that a crash left behind (its removal never
    /// ran) is not needed by recovery. Replay read it anyway, and a torn or corrupt tail in it
    /// stopped the scan there: every later segment (the WAL after the redo point, with
    /// acknowledged commits) was deleted, and the log continued at an LSN below the redo point.
    @Test("a torn leftover segment before the redo point loses nothing after it")
    func tornLeftoverSegmentBeforeRedo() async throws {
        try await withTemporaryDirectory { directory in
            let options = StorageOptions(checkpointWALBytes: 0, vacuumCommitLogEntries: 0)
            var engine = try StorageEngine(directory: directory, options: options)
            try await engine.commitWrites([1: 10])
            try await engine.commitWrites([1: 11])
            let old = try #require(WriteAheadLog.segments(in: directory).first)
            let oldBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: old.path)))
            try engine.checkpoint()
            try await engine.commitWrites([2: 20])
            engine.crash()
            // Left behind by a crash before its removal, and cut short (a torn or corrupt tail).
            try Data(oldBytes.dropLast(3)).write(to: URL(fileURLWithPath: old.path))

            engine = try StorageEngine(directory: directory, options: options)
            #expect(engine.recovery.checkpointLoaded)
            #expect(engine.committedBalances() == [1: 11, 2: 20], "the commit after the redo point survives")
            try await engine.commitWrites([3: 30])
            engine.crash()
            engine = try StorageEngine(directory: directory, options: options)
            #expect(engine.committedBalances() == [1: 11, 2: 20, 3: 30], "the log continues after the redo point")
            try engine.close()
        }
    }
}
