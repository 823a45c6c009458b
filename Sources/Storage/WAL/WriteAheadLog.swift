import Dispatch
import Foundation
import Synchronization
import SystemPackage

/// How commits are made durable.
public enum Durability: String, Sendable, Hashable, CaseIterable {
    /// `write` + `fdatasync` before a commit is acknowledged (the default).
    case fsync
    /// `write` only: a process crash loses nothing, a power failure may lose acknowledged commits.
    case none
}

/// The write-ahead log: framed records appended to an in-memory buffer, written and made durable
/// by a dedicated writer thread with group commit.
///
/// Committers append their commit record under the engine's lock, then wait (without blocking a
/// thread) until the record is durable. The writer takes everything buffered, issues one `write`
/// and one `fdatasync`, and wakes every committer the flush covered: while one flush is in
/// progress the next group forms, so N concurrent committers need far fewer than N fsyncs.
///
/// The log is a sequence of segment files `wal-<start LSN in hex>.log`; LSNs are byte positions
/// in the whole stream and never restart. A checkpoint starts a new segment and removes the
/// older ones once the checkpoint itself is durable.
///
/// Lock order: `io` before `state`; the engine's lock before either.
final class WriteAheadLog: Sendable {
    /// Bound on bytes buffered before the writer is woken even with no committer waiting.
    static let maxBufferedBytes = 4 << 20

    private struct Waiter {
        let lsn: LSN
        let continuation: UnsafeContinuation<Void, any Error>
    }

    private struct State {
        var buffer: [UInt8] = []
        var spare: [UInt8] = []
        /// The LSN of `buffer[0]`; everything before it has been handed to `write`.
        var bufferStartLSN: LSN
        /// Everything before this LSN is durable (fsynced, or written with durability `none`).
        var durableLSN: LSN
        var waiters: [Waiter] = []
        var commitsInBuffer = 0
        var writerIdle = true
        var closed = false
        var failure: StorageError?
        var statistics = WALStatistics()
    }

    private struct IO {
        var fd: FileDescriptor?
        var segmentPath: String
        var segmentStartLSN: LSN
        /// Bytes of the current segment known to be on stable storage (for crash simulation).
        var syncedSize: Int
        var size: Int
    }

    let directory: String
    let durability: Durability
    private let state: Mutex<State>
    private let io: Mutex<IO>
    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    static func segmentName(_ start: LSN) -> String {
        "wal-" + String(start, radix: 16).leftPadded(to: 16) + ".log"
    }

    /// Opens the log for appending at `endLSN` in the segment starting at `segmentStart` (which
    /// already holds `endLSN - segmentStart` valid bytes), and starts the writer thread.
    init(directory: String, segmentStart: LSN, endLSN: LSN, durability: Durability) throws(StorageError) {
        self.directory = directory
        self.durability = durability
        let path = directory + "/" + WriteAheadLog.segmentName(segmentStart)
        let existed = FileManager.default.fileExists(atPath: path)
        let fd = try FileIO.openForAppend(path)
        if !existed { try FileIO.syncDirectory(directory) }
        let size = Int(endLSN - segmentStart)
        io = Mutex(IO(fd: fd, segmentPath: path, segmentStartLSN: segmentStart, syncedSize: size, size: size))
        state = Mutex(State(bufferStartLSN: endLSN, durableLSN: endLSN))
        state.withLock { $0.buffer.reserveCapacity(1 << 16) }
        let thread = Thread { [self] in writerLoop() }
        thread.name = "layerbench-wal-writer"
        thread.start()
    }

    /// Appends a record to the buffer and returns its end LSN (durable once `durableLSN` reaches it).
    func append(_ record: WALRecord) throws(StorageError) -> LSN {
        let (lsn, signal) = try state.withLock { s throws(StorageError) -> (LSN, Bool) in
            if let failure = s.failure { throw failure }
            record.encode(into: &s.buffer)
            switch record {
            case .commit, .prepare: s.commitsInBuffer += 1
            case .write, .abort, .lock: break
            }
            var signal = false
            if s.buffer.count >= WriteAheadLog.maxBufferedBytes, s.writerIdle {
                s.writerIdle = false
                signal = true
            }
            return (s.bufferStartLSN + LSN(s.buffer.count), signal)
        }
        if signal { wake.signal() }
        return lsn
    }

    /// The LSN the next record will start at.
    var insertLSN: LSN {
        state.withLock { $0.bufferStartLSN + LSN($0.buffer.count) }
    }

    /// Suspends until everything before `lsn` is durable (group commit: the writer flushes for
    /// every waiter at once).
    func waitDurable(_ lsn: LSN) async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            enum Action {
                case resume
                case fail(StorageError)
                case wait(signal: Bool)
            }
            let action = state.withLock { s -> Action in
                if s.durableLSN >= lsn { return .resume }
                if let failure = s.failure { return .fail(failure) }
                s.waiters.append(Waiter(lsn: lsn, continuation: continuation))
                guard s.writerIdle else { return .wait(signal: false) }
                s.writerIdle = false
                return .wait(signal: true)
            }
            switch action {
            case .resume: continuation.resume()
            case .fail(let error): continuation.resume(throwing: error)
            case .wait(let signal): if signal { wake.signal() }
            }
        }
    }

    var statistics: WALStatistics { state.withLock { $0.statistics } }

    var durableLSN: LSN { state.withLock { $0.durableLSN } }

    // MARK: - The writer

    private func writerLoop() {
        while true {
            wake.wait()
            while flushOnce() {}
            if state.withLock({ $0.closed }) {
                exited.signal()
                return
            }
        }
    }

    /// Writes and syncs everything buffered. Returns false when there was nothing to do (and the
    /// writer is marked idle) or the log is closed.
    private func flushOnce() -> Bool {
        var ready: [Waiter] = []
        var failed: [Waiter] = []
        var failure: StorageError?
        let didWork = io.withLock { io -> Bool in
            let taken = state.withLock { s -> (bytes: [UInt8], start: LSN, commits: Int)? in
                if s.closed || s.buffer.isEmpty {
                    s.writerIdle = true
                    return nil
                }
                var bytes = s.spare
                bytes.removeAll(keepingCapacity: true)
                swap(&bytes, &s.buffer)
                let start = s.bufferStartLSN
                s.bufferStartLSN += LSN(bytes.count)
                let commits = s.commitsInBuffer
                s.commitsInBuffer = 0
                return (bytes, start, commits)
            }
            guard let taken else { return false }
            do throws(StorageError) {
                let end = try writeAndSync(taken.bytes, io: &io)
                state.withLock { s in
                    s.durableLSN = end
                    s.statistics.recordFlush(commits: taken.commits)
                    s.spare = taken.bytes
                    var index = 0
                    while index < s.waiters.count {
                        if s.waiters[index].lsn <= end {
                            ready.append(s.waiters[index])
                            s.waiters.swapAt(index, s.waiters.count - 1)
                            s.waiters.removeLast()
                        } else {
                            index += 1
                        }
                    }
                }
            } catch {
                // An fsync failure leaves the log in an unknown state (PostgreSQL PANICs): fail
                // every waiter and every later append; the engine must be reopened and recovered.
                failure = error
                state.withLock { s in
                    s.failure = error
                    failed = s.waiters
                    s.waiters = []
                }
            }
            return true
        }
        for waiter in ready { waiter.continuation.resume() }
        for waiter in failed { waiter.continuation.resume(throwing: failure ?? StorageError.closed) }
        return didWork
    }

    /// `write` + `fdatasync` (per the durability setting) of `bytes` to the current segment;
    /// returns the new end LSN. Called with `io` held.
    private func writeAndSync(_ bytes: [UInt8], io: inout IO) throws(StorageError) -> LSN {
        guard let fd = io.fd else { throw StorageError.closed }
        let writeStart = monotonicNanos()
        try withBytes(bytes) { raw throws(StorageError) in try FileIO.writeAll(fd, raw, path: io.segmentPath) }
        let writeEnd = monotonicNanos()
        io.size += bytes.count
        var fsyncNanos: UInt64 = 0
        if durability == .fsync {
            try FileIO.dataSync(fd, path: io.segmentPath)
            fsyncNanos = monotonicNanos() - writeEnd
            io.syncedSize = io.size
        }
        let count = UInt64(bytes.count)
        let synced = durability == .fsync
        state.withLock { s in
            s.statistics.writes += 1
            s.statistics.bytesWritten += count
            s.statistics.writeNanos += writeEnd - writeStart
            if synced {
                s.statistics.fsyncs += 1
                s.statistics.fsyncNanos += fsyncNanos
            }
        }
        return io.segmentStartLSN + LSN(io.size)
    }

    // MARK: - Checkpoint, close and crash

    /// Flushes everything buffered into the current segment and starts a new segment at the end.
    /// Called under the engine's lock (no appends run concurrently). Returns the new segment's
    /// start LSN: every record before it is reflected in the state the caller captures.
    func rotate() throws(StorageError) -> LSN {
        var ready: [Waiter] = []
        let start = try io.withLock { io throws(StorageError) -> LSN in
            let taken = state.withLock { s -> ([UInt8], Int) in
                var bytes: [UInt8] = []
                swap(&bytes, &s.buffer)
                s.bufferStartLSN += LSN(bytes.count)
                defer { s.commitsInBuffer = 0 }
                return (bytes, s.commitsInBuffer)
            }
            var end = io.segmentStartLSN + LSN(io.size)
            if !taken.0.isEmpty { end = try writeAndSync(taken.0, io: &io) }
            state.withLock { s in
                s.durableLSN = end
                s.statistics.recordFlush(commits: taken.1)
                ready = s.waiters.filter { $0.lsn <= end }
                s.waiters.removeAll { $0.lsn <= end }
            }
            try? io.fd?.close()
            let path = directory + "/" + WriteAheadLog.segmentName(end)
            io.fd = try FileIO.openForAppend(path)
            try FileIO.syncDirectory(directory)
            io.segmentPath = path
            io.segmentStartLSN = end
            io.size = 0
            io.syncedSize = 0
            return end
        }
        for waiter in ready { waiter.continuation.resume() }
        return start
    }

    /// Removes every segment that starts before `lsn` (they are covered by a durable checkpoint).
    func removeSegments(before lsn: LSN) throws(StorageError) {
        for segment in WriteAheadLog.segments(in: directory) where segment.start < lsn {
            do { try FileManager.default.removeItem(atPath: segment.path) } catch {
                throw FileIO.ioError(segment.path, error)
            }
        }
        try FileIO.syncDirectory(directory)
    }

    /// Flushes what is buffered, stops the writer and closes the file.
    func close() throws(StorageError) {
        let alreadyClosed = state.withLock { $0.closed }
        if alreadyClosed { return }
        while state.withLock({ !$0.buffer.isEmpty && $0.failure == nil }) {
            // Hand the rest to the writer and wait for it, as a committer would.
            let signal = state.withLock { s -> Bool in
                guard s.writerIdle else { return false }
                s.writerIdle = false
                return true
            }
            if signal { wake.signal() }
            usleep(100)
        }
        shutDown(losingUnsyncedWrites: false)
        if let failure = state.withLock({ $0.failure }), failure != .closed { throw failure }
    }

    /// Simulates a crash: the buffer is dropped, waiters fail with `.closed`, and (to simulate a
    /// power failure rather than a process crash) the segment is cut back to its fsynced size.
    func crash(losingUnsyncedWrites: Bool) {
        shutDown(losingUnsyncedWrites: losingUnsyncedWrites)
    }

    private func shutDown(losingUnsyncedWrites: Bool) {
        var failed: [Waiter] = []
        let wasClosed = io.withLock { io -> Bool in
            let wasClosed = state.withLock { s -> Bool in
                if s.closed { return true }
                s.closed = true
                if s.failure == nil { s.failure = .closed }
                s.buffer = []
                failed = s.waiters
                s.waiters = []
                return false
            }
            if wasClosed { return true }
            if let fd = io.fd {
                if losingUnsyncedWrites, io.syncedSize < io.size {
                    _ = try? fd.resize(to: Int64(io.syncedSize))
                }
                try? fd.close()
                io.fd = nil
            }
            return false
        }
        for waiter in failed { waiter.continuation.resume(throwing: StorageError.closed) }
        if !wasClosed {
            wake.signal()
            exited.wait()
        }
    }

    // MARK: - Recovery

    /// A segment file in the log directory.
    struct SegmentFile {
        let start: LSN
        let path: String
    }

    static func segments(in directory: String) -> [SegmentFile] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> SegmentFile? in
            guard name.hasPrefix("wal-"), name.hasSuffix(".log"), name.count == 24 else { return nil }
            guard let start = LSN(name.dropFirst(4).prefix(16), radix: 16) else { return nil }
            return SegmentFile(start: start, path: directory + "/" + name)
        }.sorted { $0.start < $1.start }
    }

    /// What recovery read from the log.
    struct Scan {
        /// Valid records at or after the redo LSN, in log order, with their end LSNs.
        var records: [(lsn: LSN, record: WALRecord)] = []
        /// The segment to continue appending to, and the LSN the log ends at.
        var segmentStart: LSN
        var endLSN: LSN
        /// Bytes cut off a torn or corrupt tail (0 when the log ended cleanly).
        var truncatedBytes = 0
    }

    /// Reads every valid record from `redoLSN` on. At the first invalid record (incomplete frame,
    /// CRC mismatch) the segment is truncated there and later segments are removed: a torn tail is
    /// the normal result of a crash during `write`, and nothing after it was acknowledged.
    static func scan(directory: String, from redoLSN: LSN) throws(StorageError) -> Scan {
        let files = segments(in: directory)
        var scan = Scan(segmentStart: redoLSN, endLSN: redoLSN)
        var stopped = false
        for file in files {
            if stopped {
                scan.truncatedBytes += (try? FileIO.readAll(file.path).count) ?? 0
                do { try FileManager.default.removeItem(atPath: file.path) } catch {
                    throw FileIO.ioError(file.path, error)
                }
                continue
            }
            let bytes = try FileIO.readAll(file.path)
            var offset = 0
            bytes.withUnsafeBytes { raw in
                while let (record, next) = WALRecord.decode(raw, at: offset) {
                    let end = file.start + LSN(next)
                    if end > redoLSN { scan.records.append((end, record)) }
                    offset = next
                }
            }
            scan.segmentStart = file.start
            scan.endLSN = file.start + LSN(offset)
            if offset < bytes.count {
                scan.truncatedBytes += bytes.count - offset
                try FileIO.truncate(file.path, to: offset)
                stopped = true
            }
        }
        if !files.isEmpty { try FileIO.syncDirectory(directory) }
        return scan
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
