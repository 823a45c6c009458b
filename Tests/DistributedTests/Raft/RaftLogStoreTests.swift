import Foundation
import Storage
import Testing

@testable import Distributed

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String) throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("layerbench-\(label)-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("Raft log store")
struct RaftLogStoreTests {
    static func entries(_ indexes: ClosedRange<UInt64>, term: UInt64) -> [RaftEntry] {
        indexes.map { RaftEntry(term: term, index: $0, data: Array("e\($0)t\(term)".utf8)) }
    }

    static func ready(
        entries: [RaftEntry] = [], hardState: RaftHardState? = nil, snapshot: RaftSnapshot? = nil,
        mustSync: Bool = true
    ) -> RaftReady {
        RaftReady(hardState: hardState, entries: entries, snapshot: snapshot, mustSync: mustSync)
    }

    static func appendBytes(_ bytes: [UInt8], to path: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(bytes))
        handle.closeFile()
    }

    @Test("the checksum is CRC-32C (the standard check value of \"123456789\")")
    func crcVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test("a record round-trips, and a flipped bit or a missing byte makes it torn")
    func recordFraming() {
        var buffer: [UInt8] = []
        let record = RaftLogRecord.entries(Self.entries(5...7, term: 3))
        record.encode(into: &buffer)
        #expect(RaftLogRecord.decode(buffer, at: 0) == .record(record, next: buffer.count))
        var flipped = buffer
        flipped[buffer.count - 1] ^= 0x10
        #expect(RaftLogRecord.decode(flipped, at: 0) == .torn)
        #expect(RaftLogRecord.decode(Array(buffer.dropLast()), at: 0) == .torn)
    }

    @Test("appends, a conflicting suffix, a leader's snapshot and the hard state survive a reopen")
    func roundTrip() throws {
        let dir = try TemporaryDirectory("raftlog")
        defer { dir.remove() }
        var expected = RaftPersistentState()
        do {
            let store = try RaftLogStore(directory: dir.path)
            let readies = [
                Self.ready(
                    entries: Self.entries(1...5, term: 1), hardState: RaftHardState(term: 1, vote: 2, commit: 0)),
                Self.ready(hardState: RaftHardState(term: 1, vote: 2, commit: 3), mustSync: false),
                // A new leader's entries replace the uncommitted suffix from index 4.
                Self.ready(
                    entries: Self.entries(4...6, term: 2), hardState: RaftHardState(term: 2, vote: 0, commit: 3)),
                Self.ready(
                    entries: Self.entries(7...9, term: 2), hardState: RaftHardState(term: 2, vote: 0, commit: 8)),
            ]
            for ready in readies {
                try store.append(ready)
                expected.persist(ready)
            }
            #expect(store.persistentState == expected)
            #expect(store.statistics.appendBatches == 3)
            #expect(store.statistics.fsyncs == 3)
            #expect(store.statistics.deferredHardStates == 1)
            store.close()
        }
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded == expected)
        #expect(reopened.loaded.entries.map(\.term) == [1, 1, 1, 2, 2, 2, 2, 2, 2])
        #expect(reopened.loadReport.tornBytesCut == 0)
        // A snapshot from the leader replaces the whole log.
        let snapshot = RaftSnapshot(index: 20, term: 3, data: [1, 2, 3])
        let install = Self.ready(hardState: RaftHardState(term: 3, vote: 0, commit: 20), snapshot: snapshot)
        try reopened.append(install)
        expected.persist(install)
        try reopened.append(Self.ready(entries: Self.entries(21...22, term: 3)))
        expected.persist(Self.ready(entries: Self.entries(21...22, term: 3)))
        reopened.close()
        let again = try RaftLogStore(directory: dir.path)
        #expect(again.loaded == expected)
        #expect(again.loaded.snapshot == snapshot)
        #expect(again.loaded.lastIndex == 22)
    }

    @Test("one fdatasync per append batch, none for a commit index alone")
    func oneFsyncPerBatch() throws {
        let dir = try TemporaryDirectory("raftlog-fsync")
        defer { dir.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let store = try RaftLogStore(directory: dir.path, fileSystem: fileSystem)
        let before = fileSystem.calls(.dataSync)
        for batch in 0..<10 as Range<UInt64> {
            let first = batch * 5 + 1
            try store.append(Self.ready(entries: Self.entries(first...(first + 4), term: 1)))
            try store.append(Self.ready(hardState: RaftHardState(term: 1, vote: 1, commit: first + 4), mustSync: false))
        }
        #expect(fileSystem.calls(.dataSync) - before == 10)
        #expect(store.statistics.fsyncs == 10)
        #expect(store.statistics.appendBatches == 10)
        #expect(store.statistics.entriesWritten == 50)
        store.close()
    }

    @Test("a commit index alone is written with the next synced batch, and only lost (safely lower) before it")
    func deferredCommitIndex() throws {
        let dir = try TemporaryDirectory("raftlog-deferred")
        defer { dir.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let store = try RaftLogStore(directory: dir.path, fileSystem: fileSystem, segmentBytes: 120)
        let writesBefore = fileSystem.calls(.write)
        try store.append(Self.ready(entries: Self.entries(1...3, term: 1), hardState: RaftHardState(term: 1, vote: 1)))
        #expect(try !store.append(Self.ready(hardState: RaftHardState(term: 1, vote: 1, commit: 2), mustSync: false)))
        #expect(fileSystem.calls(.write) - writesBefore == 1)
        #expect(store.persistentState.hardState.commit == 2)
        store.close()
        // Not yet on disk: the restarted replica reads an older (lower) commit index.
        let first = try RaftLogStore(directory: dir.path, fileSystem: fileSystem, segmentBytes: 120)
        #expect(first.loaded.hardState.commit == 0)
        #expect(first.loaded.lastIndex == 3)
        try first.append(Self.ready(hardState: RaftHardState(term: 1, vote: 1, commit: 3), mustSync: false))
        // The next synced batch (in a new segment: this one is full) carries it.
        try first.append(Self.ready(entries: Self.entries(4...4, term: 1)))
        #expect(first.segmentPaths.count == 2)
        #expect(first.statistics.fsyncs == 1)
        first.close()
        let second = try RaftLogStore(directory: dir.path)
        #expect(second.loaded.hardState == RaftHardState(term: 1, vote: 1, commit: 3))
        #expect(second.loaded.lastIndex == 4)
        second.close()
    }

    @Test("a torn tail is cut at load; every synced record is kept and appending continues after it")
    func tornTail() throws {
        let dir = try TemporaryDirectory("raftlog-torn")
        defer { dir.remove() }
        var expected = RaftPersistentState()
        let store = try RaftLogStore(directory: dir.path)
        for term in 1...3 as ClosedRange<UInt64> {
            let ready = Self.ready(
                entries: Self.entries((term * 3 - 2)...(term * 3), term: term),
                hardState: RaftHardState(term: term, vote: 1, commit: term * 3 - 2))
            try store.append(ready)
            expected.persist(ready)
        }
        store.close()
        let segment = try #require(store.segmentPaths.last)
        // An interrupted write: the first half of the next batch's record.
        var next: [UInt8] = []
        RaftLogRecord.entries(Self.entries(10...12, term: 3)).encode(into: &next)
        try Self.appendBytes(Array(next.prefix(next.count / 2)), to: segment)
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded == expected)
        #expect(reopened.loadReport.tornBytesCut == next.count / 2)
        let more = Self.ready(entries: Self.entries(10...11, term: 3))
        try reopened.append(more)
        expected.persist(more)
        reopened.close()
        // Garbage that is not even a frame header.
        try Self.appendBytes([0xFF, 0x01, 0x02], to: segment)
        let third = try RaftLogStore(directory: dir.path)
        #expect(third.loaded == expected)
        #expect(third.loadReport.tornBytesCut == 3)
        third.close()
    }

    @Test("a bad record before the last segment is corruption, not a torn tail")
    func corruptionBeforeLastSegment() throws {
        let dir = try TemporaryDirectory("raftlog-corrupt")
        defer { dir.remove() }
        let store = try RaftLogStore(directory: dir.path, segmentBytes: 64)
        for index in 1...6 as ClosedRange<UInt64> {
            try store.append(Self.ready(entries: Self.entries(index...index, term: 1)))
        }
        store.close()
        let segments = store.segmentPaths
        #expect(segments.count > 2)
        try Self.appendBytes([0, 0, 0, 9], to: segments[0])
        #expect {
            _ = try RaftLogStore(directory: dir.path)
        } throws: { error in
            guard case .corrupt = error as? RaftLogStoreError else { return false }
            return true
        }
    }

    @Test("a failed fsync poisons the store: the error is kept, no fsync is retried, and a reopen loads the disk")
    func fsyncFailurePoisons() throws {
        let dir = try TemporaryDirectory("raftlog-poison")
        defer { dir.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let store = try RaftLogStore(directory: dir.path, fileSystem: fileSystem)
        let good = Self.ready(entries: Self.entries(1...3, term: 1), hardState: RaftHardState(term: 1, vote: 1))
        try store.append(good)
        fileSystem.inject(.eio, into: .dataSync, pathContains: "raft-")
        let syncsBefore = fileSystem.calls(.dataSync)
        #expect(throws: RaftLogStoreError.self) {
            try store.append(Self.ready(entries: Self.entries(4...5, term: 1)))
        }
        #expect(store.failure != nil)
        // Every later call fails with the original cause and touches no file.
        for _ in 0..<3 {
            #expect {
                try store.append(Self.ready(entries: Self.entries(4...5, term: 1)))
            } throws: { error in
                guard case .poisoned(let cause) = error as? RaftLogStoreError else { return false }
                return cause == store.failure
            }
        }
        #expect(throws: RaftLogStoreError.self) { try store.compact(to: RaftSnapshot(index: 2, term: 1)) }
        #expect(fileSystem.calls(.dataSync) == syncsBefore + 1)
        store.close()
        // The replica restarts from what is on disk: at least everything synced before the failure.
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded.lastIndex >= 3)
        #expect(Array(reopened.loaded.entries.prefix(3)) == good.entries)
        reopened.close()
    }

    @Test("a failed write poisons the store before any fsync")
    func writeFailurePoisons() throws {
        let dir = try TemporaryDirectory("raftlog-write")
        defer { dir.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let store = try RaftLogStore(directory: dir.path, fileSystem: fileSystem)
        try store.append(Self.ready(entries: Self.entries(1...2, term: 1)))
        fileSystem.inject(.shortWrite, into: .write, pathContains: "raft-")
        let syncsBefore = fileSystem.calls(.dataSync)
        #expect(throws: RaftLogStoreError.self) { try store.append(Self.ready(entries: Self.entries(3...9, term: 1))) }
        #expect(fileSystem.calls(.dataSync) == syncsBefore)
        #expect(throws: RaftLogStoreError.self) { try store.append(Self.ready(entries: Self.entries(3...3, term: 1))) }
        store.close()
        // The half-written record is a torn tail.
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded.lastIndex == 2)
        #expect(reopened.loadReport.tornBytesCut > 0)
        reopened.close()
    }

    @Test("compaction keeps the retained entries and the hard state, removes old segments, survives a reopen")
    func compaction() throws {
        let dir = try TemporaryDirectory("raftlog-compact")
        defer { dir.remove() }
        var expected = RaftPersistentState()
        let store = try RaftLogStore(directory: dir.path, segmentBytes: 200)
        for index in 1...40 as ClosedRange<UInt64> {
            let ready = Self.ready(
                entries: Self.entries(index...index, term: 2), hardState: RaftHardState(term: 2, vote: 3, commit: index)
            )
            try store.append(ready)
            expected.persist(ready)
        }
        #expect(store.segmentPaths.count > 3)
        let snapshot = RaftSnapshot(index: 30, term: 2, data: Array("state at 30".utf8))
        try store.compact(to: snapshot)
        expected.compact(to: snapshot)
        #expect(store.persistentState == expected)
        #expect(store.segmentPaths.count == 1)
        let after = Self.ready(entries: Self.entries(41...42, term: 2))
        try store.append(after)
        expected.persist(after)
        store.close()
        // A compaction interrupted before its rename leaves only a temporary file, which loading ignores.
        try Array("junk".utf8).withUnsafeBytes { raw in
            try Data(raw).write(to: URL(fileURLWithPath: RaftLogStore.segmentPath(dir.path, 99) + ".tmp"))
        }
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded == expected)
        #expect(reopened.loaded.snapshot == snapshot)
        #expect(reopened.loaded.entries.first?.index == 31)
        #expect(reopened.loaded.lastIndex == 42)
        reopened.close()
    }

    @Test("an old segment left behind by an interrupted removal is skipped: loading starts at the newest base")
    func obsoleteSegmentSkipped() throws {
        let dir = try TemporaryDirectory("raftlog-obsolete")
        defer { dir.remove() }
        let store = try RaftLogStore(directory: dir.path)
        try store.append(Self.ready(entries: Self.entries(1...10, term: 1)))
        let first = try #require(store.segmentPaths.first)
        let oldBytes = try #require(FileManager.default.contents(atPath: first))
        try store.compact(to: RaftSnapshot(index: 5, term: 1))
        let expected = store.persistentState
        store.close()
        // Put the obsolete segment back, as if its removal had not happened.
        try oldBytes.write(to: URL(fileURLWithPath: first))
        let reopened = try RaftLogStore(directory: dir.path)
        #expect(reopened.loaded == expected)
        #expect(reopened.loadReport.segmentsRead == 1)
        reopened.close()
    }
}
