import Foundation
import Storage
import Synchronization

/// Why the durable Raft log failed. Every failure names its file.
package enum RaftLogStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file operation failed. A failed write or fsync poisons the store (see `RaftLogStore`).
    case io(StorageError)
    /// An earlier write or fsync failed (`cause`): the store accepts nothing more; restart from disk.
    case poisoned(cause: StorageError)
    /// A record whose checksum holds cannot be read, a torn record before the last segment, or records
    /// that contradict each other: damage that no crash explains.
    case corrupt(path: String, reason: String)
    case closed

    package var description: String {
        switch self {
        case .io(let error): "Raft log: \(error)"
        case .poisoned(let cause): "Raft log poisoned by an earlier failure (\(cause)); restart from disk"
        case .corrupt(let path, let reason): "Raft log \(path) is corrupt: \(reason)"
        case .closed: "Raft log is closed"
        }
    }
}

/// Counts of one replica's durable log.
package struct RaftLogStoreStatistics: Sendable, Equatable {
    /// `RaftReady`s written with an fsync (each is exactly one `fdatasync`).
    package var appendBatches: UInt64 = 0
    /// `fdatasync` calls on segment files (appends and compactions).
    package var fsyncs: UInt64 = 0
    /// Time spent in the append path's `fdatasync`s (the replica's commit fsync).
    package var appendFsyncNanos: UInt64 = 0
    /// `fsync` calls on the directory (segment creation, compaction renames).
    package var directorySyncs: UInt64 = 0
    /// `RaftReady`s carrying a commit index alone: kept in memory and written with the next synced batch.
    package var deferredHardStates: UInt64 = 0
    package var bytesWritten: UInt64 = 0
    /// Entries written by appends (each entry of a `RaftReady` once; compaction rewrites are not counted).
    package var entriesWritten: UInt64 = 0
    package var compactions: UInt64 = 0
    package var segmentsCreated: UInt64 = 0
    package var segmentsRemoved: UInt64 = 0
}

/// What loading the log found.
package struct RaftLogLoadReport: Sendable, Equatable {
    package var segmentsRead = 0
    package var recordsRead = 0
    /// Bytes of a torn tail cut off the last segment (an unsynced write a crash interrupted).
    package var tornBytesCut = 0
}

/// The durable Raft log of one replica: its write-ahead log (DESIGN.md). Each `RaftReady` becomes CRC-32C
/// framed records (`RaftLogRecord`: a leader's snapshot, the entries, the hard state, in that order),
/// written with one `write` and made durable with one `fdatasync` when the ready asks for it, so an
/// append batch costs one fsync and no entry is ever synced twice. An entries record whose first index is
/// at or below the last one supersedes the conflicting suffix (that is how truncation is written).
///
/// Files: segments `raft-<sequence in hex>.log` in `directory`, replayed in sequence order. A segment
/// grows until `segmentBytes`, then the next one starts. `compact(to:)` writes a new segment holding the
/// snapshot, the hard state and the retained entries under a temporary name, syncs it, renames it into
/// place and removes the older segments: loading starts at the newest segment that begins with such a base.
///
/// Loading stops at the first record of the last segment whose frame is incomplete or whose checksum fails
/// (a torn write) and cuts the file there; a synced record is never cut, since a torn write can only
/// follow the last fsync. A bad record in an earlier segment is corruption (`corrupt`), not a torn tail.
///
/// Fail-stop (PostgreSQL after fsyncgate): the first failed `write` or `fdatasync` (or segment creation)
/// poisons the store; every later call throws `poisoned`, no fsync is ever retried, and the replica must
/// restart from what `load` finds on disk.
package final class RaftLogStore: Sendable {
    package let directory: String
    private let fileSystem: any StorageFileSystem
    private let segmentBytes: Int
    /// Times the fsyncs.
    private let clock: any EngineClock

    private struct State {
        var persistent: RaftPersistentState
        var sequence: UInt64
        var fd: Int32
        var size: Int
        var failure: StorageError?
        /// A hard-state record (a commit index alone) waiting for the next synced batch.
        var deferred: [UInt8] = []
        var closed = false
        var statistics = RaftLogStoreStatistics()
    }

    private let state: Mutex<State>
    /// What `init` loaded.
    package let loaded: RaftPersistentState
    package let loadReport: RaftLogLoadReport

    /// Opens the log in `directory` (created if missing), loads it (cutting a torn tail off the last
    /// segment) and opens the last segment for appending.
    package init(
        directory: String, fileSystem: any StorageFileSystem = PosixFileSystem.shared, segmentBytes: Int = 64 << 20,
        clock: any EngineClock = SystemClock.shared
    ) throws(RaftLogStoreError) {
        self.directory = directory
        self.clock = clock
        self.fileSystem = fileSystem
        self.segmentBytes = max(segmentBytes, 1)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(.io(path: directory, message: "mkdir: \(error)"))
        }
        let (persistent, report, last) = try Self.load(directory: directory, fileSystem: fileSystem)
        loaded = persistent
        loadReport = report
        var statistics = RaftLogStoreStatistics()
        let sequence = last?.sequence ?? 1
        let path = Self.segmentPath(directory, sequence)
        let fd: Int32
        do {
            fd = try fileSystem.open(path, truncating: false)
            if last == nil {
                try fileSystem.syncDirectory(directory)
                statistics.directorySyncs += 1
                statistics.segmentsCreated += 1
            }
        } catch {
            throw .io(error)
        }
        state = Mutex(
            State(
                persistent: persistent, sequence: sequence, fd: fd, size: last?.size ?? 0, statistics: statistics))
    }

    deinit {
        state.withLock { s in
            if !s.closed { fileSystem.close(s.fd) }
        }
    }

    // MARK: - Observations

    package var statistics: RaftLogStoreStatistics { state.withLock { $0.statistics } }
    /// The log as written (the durable state once the last append returned).
    package var persistentState: RaftPersistentState { state.withLock { $0.persistent } }
    /// The failure that poisoned the store, if any.
    package var failure: StorageError? { state.withLock { $0.failure } }
    /// The segment files in sequence order.
    package var segmentPaths: [String] {
        Self.segments(in: directory).map { Self.segmentPath(directory, $0) }
    }

    // MARK: - Writing

    /// Writes the durable part of `ready` (its snapshot, entries and hard state) with one `write` and one
    /// `fdatasync` when `ready.mustSync`; returns whether it wrote. A ready without `mustSync` carries a
    /// commit index alone: it is kept in memory and written ahead of the next synced batch (after a crash
    /// the commit index may read lower, which is safe, see `RaftReady.mustSync`), so every byte written is
    /// followed by its fsync and a torn write can only be the tail of the last segment. When this returns,
    /// what `ready` asked to persist is durable; when it throws, the store is poisoned.
    @discardableResult
    package func append(_ ready: RaftReady) throws(RaftLogStoreError) -> Bool {
        var buffer: [UInt8] = []
        if let snapshot = ready.snapshot { RaftLogRecord.snapshot(snapshot).encode(into: &buffer) }
        if !ready.entries.isEmpty { RaftLogRecord.entries(ready.entries).encode(into: &buffer) }
        if let hard = ready.hardState { RaftLogRecord.hardState(hard).encode(into: &buffer) }
        return try state.withLock { s throws(RaftLogStoreError) -> Bool in
            try Self.checkUsable(s)
            guard ready.mustSync else {
                precondition(ready.entries.isEmpty && ready.snapshot == nil, "entries and snapshots are synced")
                if !buffer.isEmpty {
                    s.deferred = buffer
                    s.persistent.persist(ready)
                    s.statistics.deferredHardStates += 1
                }
                return false
            }
            buffer = s.deferred + buffer
            do throws(StorageError) {
                if s.size > 0 && s.size + buffer.count > segmentBytes { try startSegment(&s) }
                let path = Self.segmentPath(directory, s.sequence)
                try withBytes(buffer) { (raw) throws(StorageError) in try fileSystem.write(s.fd, raw, path: path) }
                s.size += buffer.count
                s.statistics.bytesWritten += UInt64(buffer.count)
                s.deferred = []
                s.persistent.persist(ready)
                s.statistics.entriesWritten += UInt64(ready.entries.count)
                let syncStart = clock.nowNanos()
                try fileSystem.dataSync(s.fd, path: path)
                s.statistics.appendFsyncNanos += clock.nowNanos() &- syncStart
                s.statistics.fsyncs += 1
                s.statistics.appendBatches += 1
                return true
            } catch {
                s.failure = error
                throw .io(error)
            }
        }
    }

    /// Drops the entries `snapshot` covers: writes a base segment (the snapshot, the hard state and the
    /// retained entries), syncs and renames it into place, then removes the older segments. A failure
    /// before the rename leaves the log as it was, but poisons the store all the same (fail-stop).
    package func compact(to snapshot: RaftSnapshot) throws(RaftLogStoreError) {
        try state.withLock { s throws(RaftLogStoreError) in
            try Self.checkUsable(s)
            guard snapshot.index > s.persistent.snapshot.index else { return }
            guard s.persistent.term(at: snapshot.index) == snapshot.term else {
                throw .corrupt(
                    path: directory,
                    reason: "compaction to index \(snapshot.index) term \(snapshot.term) does not match the log")
            }
            var compacted = s.persistent
            compacted.compact(to: snapshot)
            var buffer: [UInt8] = []
            RaftLogRecord.base(snapshot).encode(into: &buffer)
            RaftLogRecord.hardState(compacted.hardState).encode(into: &buffer)
            if !compacted.entries.isEmpty { RaftLogRecord.entries(compacted.entries).encode(into: &buffer) }
            let sequence = s.sequence + 1
            let path = Self.segmentPath(directory, sequence)
            let temporary = path + ".tmp"
            do throws(StorageError) {
                let fd = try fileSystem.open(temporary, truncating: true)
                do throws(StorageError) {
                    try withBytes(buffer) { (raw) throws(StorageError) in
                        try fileSystem.write(fd, raw, path: temporary)
                    }
                    try fileSystem.dataSync(fd, path: temporary)
                    s.statistics.fsyncs += 1
                    try fileSystem.rename(temporary, to: path)
                    try fileSystem.syncDirectory(directory)
                    s.statistics.directorySyncs += 1
                } catch {
                    fileSystem.close(fd)
                    throw error
                }
                fileSystem.close(s.fd)
                s.fd = fd
            } catch {
                s.failure = error
                throw .io(error)
            }
            s.sequence = sequence
            s.size = buffer.count
            s.deferred = []
            s.persistent = compacted
            s.statistics.bytesWritten += UInt64(buffer.count)
            s.statistics.compactions += 1
            s.statistics.segmentsCreated += 1
            // Older segments are obsolete: loading starts at the newest base. Newest first, and a failed
            // removal only leaves a file that loading skips.
            for old in Self.segments(in: directory).filter({ $0 < sequence }).reversed() {
                if (try? fileSystem.remove(Self.segmentPath(directory, old))) != nil {
                    s.statistics.segmentsRemoved += 1
                }
            }
        }
    }

    /// Closes the current segment; later calls throw `closed`.
    package func close() {
        state.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            fileSystem.close(s.fd)
        }
    }

    private static func checkUsable(_ s: State) throws(RaftLogStoreError) {
        if let failure = s.failure { throw .poisoned(cause: failure) }
        if s.closed { throw .closed }
    }

    /// Starts the next plain segment (the current one is full).
    private func startSegment(_ s: inout State) throws(StorageError) {
        let sequence = s.sequence + 1
        let fd = try fileSystem.open(Self.segmentPath(directory, sequence), truncating: true)
        s.statistics.segmentsCreated += 1
        do {
            try fileSystem.syncDirectory(directory)
            s.statistics.directorySyncs += 1
        } catch {
            fileSystem.close(fd)
            throw error
        }
        fileSystem.close(s.fd)
        s.fd = fd
        s.sequence = sequence
        s.size = 0
    }

    // MARK: - Loading

    static func segmentPath(_ directory: String, _ sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return directory + "/raft-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".log"
    }

    /// The sequence numbers of the segment files in `directory`, ascending.
    static func segments(in directory: String) -> [UInt64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> UInt64? in
            guard name.hasPrefix("raft-"), name.hasSuffix(".log") else { return nil }
            return UInt64(name.dropFirst(5).dropLast(4), radix: 16)
        }.sorted()
    }

    /// Replays the segments from the newest base on; cuts a torn tail off the last one.
    private static func load(
        directory: String, fileSystem: any StorageFileSystem
    ) throws(RaftLogStoreError) -> (RaftPersistentState, RaftLogLoadReport, (sequence: UInt64, size: Int)?) {
        // A compaction interrupted before its rename left a temporary file: the older segments still hold
        // everything, so it is only removed.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix("raft-") && name.hasSuffix(".log.tmp") {
            try? fileSystem.remove(directory + "/" + name)
        }
        var sequences = segments(in: directory)
        var contents: [UInt64: [UInt8]] = [:]
        for sequence in sequences {
            let path = segmentPath(directory, sequence)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .io(.io(path: path, message: "cannot read"))
            }
            contents[sequence] = [UInt8](data)
        }
        // The newest segment that begins with a complete base record (older ones are obsolete).
        if let base = sequences.last(where: { sequence in
            guard let bytes = contents[sequence], !bytes.isEmpty,
                case .record(.base, _) = RaftLogRecord.decode(bytes, at: 0)
            else { return false }
            return true
        }) {
            sequences.removeAll { $0 < base }
        }
        var persistent = RaftPersistentState()
        var report = RaftLogLoadReport()
        var last: (sequence: UInt64, size: Int)?
        for (position, sequence) in sequences.enumerated() {
            let path = segmentPath(directory, sequence)
            let bytes = contents[sequence] ?? []
            report.segmentsRead += 1
            var offset = 0
            while offset < bytes.count {
                switch RaftLogRecord.decode(bytes, at: offset) {
                case .record(let record, let next):
                    if let reason = apply(record, to: &persistent) {
                        throw .corrupt(path: path, reason: "\(reason) (record at offset \(offset))")
                    }
                    report.recordsRead += 1
                    offset = next
                case .malformed(let reason):
                    throw .corrupt(path: path, reason: reason)
                case .torn:
                    guard position == sequences.count - 1 else {
                        throw .corrupt(path: path, reason: "a torn record at offset \(offset) before the last segment")
                    }
                    do {
                        try fileSystem.truncate(path, to: offset)
                    } catch {
                        throw .io(error)
                    }
                    report.tornBytesCut = bytes.count - offset
                    last = (sequence, offset)
                    offset = bytes.count
                }
            }
            if last?.sequence != sequence { last = (sequence, bytes.count) }
        }
        guard persistent.hardState.commit <= persistent.lastIndex else {
            throw .corrupt(
                path: directory,
                reason: "commit index \(persistent.hardState.commit) beyond the last index \(persistent.lastIndex)")
        }
        return (persistent, report, last)
    }

    /// Applies one loaded record; returns why it contradicts the state, if it does.
    private static func apply(_ record: RaftLogRecord, to state: inout RaftPersistentState) -> String? {
        switch record {
        case .entries(let entries):
            let first = entries[0].index
            guard first > state.snapshot.index, first <= state.lastIndex + 1 else {
                return
                    "entries from index \(first) do not continue a log of \(state.snapshot.index + 1)...\(state.lastIndex)"
            }
            state.persist(RaftReady(entries: entries, mustSync: true))
        case .hardState(let hard):
            state.hardState = hard
        case .snapshot(let snapshot):
            state.snapshot = snapshot
            state.entries = []
        case .base(let snapshot):
            state = RaftPersistentState(hardState: state.hardState, snapshot: snapshot)
        }
        return nil
    }
}

/// `withUnsafeBytes` for a body with a typed error.
private func withBytes(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> Void
) throws(StorageError) {
    let result: Result<Void, StorageError> = bytes.withUnsafeBytes { raw in
        do throws(StorageError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    try result.get()
}
