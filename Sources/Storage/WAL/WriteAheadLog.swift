import Dispatch
import Foundation
import Synchronization

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
/// in the whole stream and never restart. A checkpoint asks for a new segment at its redo point
/// (the writer switches when it flushes past it) and removes the older ones once the checkpoint
/// itself is durable.
///
/// Fail-stop (PostgreSQL after fsyncgate): the first failed `write`, `fdatasync`, segment
/// creation or directory sync, on any path, poisons the log. Every waiting and every later
/// commit fails with that error, no `fsync` is ever retried, and `durableLSN` never moves past
/// the failed bytes; the engine must be reopened, and recovery reads what really reached the disk.
///
/// Lock order: `io` before `state`; the engine's lock before `state`. Nobody holds the engine's
/// lock while taking `io`.
final class WriteAheadLog: Sendable {
    /// Bound on bytes buffered before the writer is woken even with no committer waiting.
    static let maxBufferedBytes = 4 << 20

    /// Someone waiting for durability: a suspended committer or a blocked thread.
    private enum Waiter {
        case task(lsn: LSN, continuation: UnsafeContinuation<Void, any Error>)
        case thread(lsn: LSN, wait: BlockingWait)

        var lsn: LSN {
            switch self {
            case .task(let lsn, _), .thread(let lsn, _): lsn
            }
        }

        /// Whether it is satisfied once `durable` is reached. A blocked thread (checkpointer,
        /// close) also waits for a requested segment switch; a committer needs durability only.
        func isSatisfied(durable: LSN, switchPending: Bool) -> Bool {
            switch self {
            case .task(let lsn, _): lsn <= durable
            case .thread(let lsn, _): lsn <= durable && !switchPending
            }
        }

        func resume(_ failure: StorageError?) {
            switch self {
            case .task(_, let continuation):
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            case .thread(_, let wait): wait.finish(failure)
            }
        }
    }

    private struct State {
        var buffer: [UInt8] = []
        var spare: [UInt8] = []
        /// The LSN of `buffer[0]`; everything before it has been handed to `write`.
        var bufferStartLSN: LSN
        /// Everything before this LSN is durable (fsynced, or written with durability `none`).
        /// Invariant: never decreases, never passes a byte whose write or sync failed.
        var durableLSN: LSN
        /// A new segment is to start at this LSN (a checkpoint's redo point).
        var pendingSwitch: LSN?
        var waiters: [Waiter] = []
        var commitsInBuffer = 0
        var writerIdle = true
        var closed = false
        /// The first I/O failure (or `.closed`): every later append and wait fails with it.
        var failure: StorageError?
        var statistics = WALStatistics()

        mutating func advanceDurable(to end: LSN) {
            precondition(end >= durableLSN, "WAL durableLSN must never decrease (\(durableLSN) -> \(end))")
            durableLSN = end
        }
    }

    private struct IO {
        var fd: Int32?
        var segmentPath: String
        var segmentStartLSN: LSN
        /// Bytes of the current segment known to be on stable storage (for crash simulation).
        var syncedSize: Int
        var size: Int
    }

    let directory: String
    let durability: Durability
    /// No log at all (a Raft replica's storage): `append` returns the current position without
    /// encoding anything, so every wait is satisfied at once.
    let disabled: Bool
    let fileSystem: any StorageFileSystem
    let clock: any EngineClock
    private let state: Mutex<State>
    private let io: Mutex<IO>
    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    static func segmentName(_ start: LSN) -> String {
        "wal-" + String(start, radix: 16).leftPadded(to: 16) + ".log"
    }

    /// Opens the log for appending at `endLSN` in the segment starting at `segmentStart` (which
    /// already holds `endLSN - segmentStart` valid bytes), and starts the writer thread.
    init(
        directory: String, segmentStart: LSN, endLSN: LSN, durability: Durability,
        fileSystem: any StorageFileSystem = PosixFileSystem.shared, clock: any EngineClock = SystemClock.shared,
        disabled: Bool = false
    ) throws(StorageError) {
        self.directory = directory
        self.durability = durability
        self.disabled = disabled
        self.fileSystem = fileSystem
        self.clock = clock
        let path = directory + "/" + WriteAheadLog.segmentName(segmentStart)
        let existed = FileManager.default.fileExists(atPath: path)
        let fd = try fileSystem.open(path, truncating: false)
        if !existed {
            do throws(StorageError) { try fileSystem.syncDirectory(directory) } catch {
                fileSystem.close(fd)
                throw error
            }
        }
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
            if disabled { return (s.bufferStartLSN, false) }
            record.encode(into: &s.buffer)
            switch record {
            case .commit, .prepare: s.commitsInBuffer += 1
            case .write, .abort, .lock, .bulkLoad: break
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

    /// The failure that poisoned the log, if one did (`.closed` after close or crash).
    var failure: StorageError? { state.withLock { $0.failure } }

    /// Asks for a new segment starting at the current insert position, and returns that position
    /// (a record boundary). Called under the engine's lock, so the caller's view of the state
    /// reflects exactly the records before it. The writer switches when it next flushes.
    func requestSegmentSwitch() throws(StorageError) -> LSN {
        try state.withLock { s throws(StorageError) -> LSN in
            if let failure = s.failure { throw failure }
            let lsn = s.bufferStartLSN + LSN(s.buffer.count)
            s.pendingSwitch = lsn
            return lsn
        }
    }

    /// Suspends until everything before `lsn` is durable (group commit: the writer flushes for
    /// every waiter at once). Fails with the log's failure if it is poisoned.
    func waitDurable(_ lsn: LSN) async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            register(.task(lsn: lsn, continuation: continuation))
        }
    }

    /// Blocks the calling thread until everything before `lsn` is durable and any requested
    /// segment switch is done (checkpointer and close; never a committer).
    func waitDurableBlocking(_ lsn: LSN) throws(StorageError) {
        let wait = BlockingWait()
        register(.thread(lsn: lsn, wait: wait))
        if let failure = wait.result() { throw failure }
    }

    private func register(_ waiter: Waiter) {
        enum Action {
            case resume
            case fail(StorageError)
            case wait(signal: Bool)
        }
        let action = state.withLock { s -> Action in
            if waiter.isSatisfied(durable: s.durableLSN, switchPending: s.pendingSwitch != nil) { return .resume }
            if let failure = s.failure { return .fail(failure) }
            s.waiters.append(waiter)
            guard s.writerIdle else { return .wait(signal: false) }
            s.writerIdle = false
            return .wait(signal: true)
        }
        switch action {
        case .resume: waiter.resume(nil)
        case .fail(let error): waiter.resume(error)
        case .wait(let signal): if signal { wake.signal() }
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

    /// Writes and syncs everything buffered (switching segments at a requested LSN). Returns
    /// false when there was nothing to do (and the writer is marked idle) or the log is closed
    /// or poisoned.
    private func flushOnce() -> Bool {
        var ready: [Waiter] = []
        var failed: [Waiter] = []
        var failure: StorageError?
        let didWork = io.withLock { io -> Bool in
            let taken = state.withLock { s -> (bytes: [UInt8], start: LSN, commits: Int, switchAt: LSN?)? in
                if s.closed || s.failure != nil || (s.buffer.isEmpty && s.pendingSwitch == nil) {
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
                return (bytes, start, commits, s.pendingSwitch)
            }
            guard let taken else { return false }
            do throws(StorageError) {
                let end = try write(taken.bytes, startingAt: taken.start, switchAt: taken.switchAt, io: &io)
                state.withLock { s in
                    s.advanceDurable(to: end)
                    if let switchAt = taken.switchAt, switchAt <= end, s.pendingSwitch == switchAt {
                        s.pendingSwitch = nil
                    }
                    s.statistics.recordFlush(commits: taken.commits)
                    s.spare = taken.bytes
                    var index = 0
                    while index < s.waiters.count {
                        if s.waiters[index].isSatisfied(durable: end, switchPending: s.pendingSwitch != nil) {
                            ready.append(s.waiters[index])
                            s.waiters.swapAt(index, s.waiters.count - 1)
                            s.waiters.removeLast()
                        } else {
                            index += 1
                        }
                    }
                }
            } catch {
                // The log is in an unknown state (PostgreSQL PANICs): the taken bytes may or may
                // not be on disk, so nothing after `durableLSN` may ever be acknowledged. Fail
                // every waiter and every later append; the engine must be reopened and recovered.
                failure = error
                failed = poison(error)
            }
            return true
        }
        for waiter in ready { waiter.resume(nil) }
        for waiter in failed { waiter.resume(failure ?? .closed) }
        return didWork
    }

    /// Records `error` as the log's failure and takes every waiter (to be failed by the caller,
    /// outside the lock). The first failure wins.
    private func poison(_ error: StorageError) -> [Waiter] {
        state.withLock { s in
            if s.failure == nil { s.failure = error }
            s.writerIdle = true
            let failed = s.waiters
            s.waiters = []
            return failed
        }
    }

    /// Writes `bytes` (which start at LSN `start`), switching to a new segment at `switchAt` if
    /// it falls inside them or at their end; returns the new durable end LSN. Called with `io`
    /// held.
    private func write(
        _ bytes: [UInt8], startingAt start: LSN, switchAt: LSN?, io: inout IO
    ) throws(StorageError) -> LSN {
        let end = start + LSN(bytes.count)
        guard let switchAt, switchAt >= start, switchAt <= end else {
            return try withBytes(bytes) { raw throws(StorageError) in try writeAndSync(raw, io: &io) }
        }
        return try withBytes(bytes) { raw throws(StorageError) -> LSN in
            let split = Int(switchAt - start)
            if split > 0 { _ = try writeAndSync(UnsafeRawBufferPointer(rebasing: raw[..<split]), io: &io) }
            try switchSegment(at: switchAt, io: &io)
            if split < raw.count { return try writeAndSync(UnsafeRawBufferPointer(rebasing: raw[split...]), io: &io) }
            return switchAt
        }
    }

    /// Starts a new segment at `lsn` (the current segment's end). Called with `io` held.
    private func switchSegment(at lsn: LSN, io: inout IO) throws(StorageError) {
        precondition(lsn == io.segmentStartLSN + LSN(io.size), "a segment switch must be at the end of the log")
        let path = directory + "/" + WriteAheadLog.segmentName(lsn)
        let fd = try fileSystem.open(path, truncating: true)
        if let old = io.fd { fileSystem.close(old) }
        io.fd = fd
        io.segmentPath = path
        io.segmentStartLSN = lsn
        io.size = 0
        io.syncedSize = 0
        if durability == .fsync { try fileSystem.syncDirectory(directory) }
    }

    /// `write` + `fdatasync` (per the durability setting) of `bytes` to the current segment;
    /// returns the new end LSN. Called with `io` held.
    private func writeAndSync(_ bytes: UnsafeRawBufferPointer, io: inout IO) throws(StorageError) -> LSN {
        guard let fd = io.fd else { throw StorageError.closed }
        let writeStart = clock.nowNanos()
        try fileSystem.write(fd, bytes, path: io.segmentPath)
        let writeEnd = clock.nowNanos()
        io.size += bytes.count
        var fsyncNanos: UInt64 = 0
        if durability == .fsync {
            try fileSystem.dataSync(fd, path: io.segmentPath)
            fsyncNanos = clock.nanosSince(writeEnd)
            io.syncedSize = io.size
        }
        let count = UInt64(bytes.count)
        let synced = durability == .fsync
        state.withLock { s in
            s.statistics.writes += 1
            s.statistics.bytesWritten += count
            s.statistics.writeNanos += writeEnd &- writeStart
            if synced {
                s.statistics.fsyncs += 1
                s.statistics.fsyncNanos += fsyncNanos
            }
        }
        return io.segmentStartLSN + LSN(io.size)
    }

    // MARK: - Checkpoint, close and crash

    /// Removes every segment that starts before `lsn` (they are covered by a durable checkpoint).
    /// A failed removal fails only the caller (replay skips a leftover segment); a failed
    /// directory sync poisons the log.
    func removeSegments(before lsn: LSN) throws(StorageError) {
        for segment in WriteAheadLog.segments(in: directory) where segment.start < lsn {
            try fileSystem.remove(segment.path)
        }
        guard durability == .fsync else { return }
        do throws(StorageError) { try fileSystem.syncDirectory(directory) } catch {
            fail(error)
            throw error
        }
    }

    /// Makes every byte written so far stable, whatever the durability setting (a no-op with
    /// `fsync`, where every write is synced): a checkpoint's image may reflect only records on
    /// stable storage (WAL before data), also with `none`, whose commits are written, not synced.
    /// Call after `waitDurableBlocking` (the records are written and a requested segment switch is
    /// done, so they all sit in the current segment). A failed sync poisons the log.
    func syncWritten() throws(StorageError) {
        guard durability == .none else { return }
        do throws(StorageError) {
            try io.withLock { io throws(StorageError) in
                guard let fd = io.fd else { throw StorageError.closed }
                try fileSystem.dataSync(fd, path: io.segmentPath)
                io.syncedSize = io.size
            }
        } catch {
            if error != .closed { fail(error) }
            throw error
        }
    }

    /// Poisons the log with a failure met outside it (a checkpoint's failed write or sync): the
    /// engine's state on disk is unknown, so every waiting and later commit fails.
    func fail(_ error: StorageError) {
        for waiter in poison(error) { waiter.resume(error) }
    }

    /// Flushes what is buffered, stops the writer and closes the file. Throws the failure that
    /// poisoned the log, if one did.
    func close() throws(StorageError) {
        let alreadyClosed = state.withLock { $0.closed }
        if alreadyClosed { return }
        var flushFailure: StorageError?
        do throws(StorageError) { try waitDurableBlocking(insertLSN) } catch { flushFailure = error }
        let failure = flushFailure ?? self.failure
        shutDown(losingUnsyncedWrites: false)
        if let failure, failure != .closed { throw failure }
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
                    try? fileSystem.resize(fd, to: io.syncedSize, path: io.segmentPath)
                }
                fileSystem.close(fd)
                io.fd = nil
            }
            return false
        }
        for waiter in failed { waiter.resume(.closed) }
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

    /// Reads every valid record from `redoLSN` on, from the segment holding it. At the first
    /// invalid record (incomplete frame, CRC mismatch) the segment is truncated there and later
    /// segments are removed: a torn tail is the normal result of a crash during `write`, and
    /// nothing after it was acknowledged.
    static func scan(
        directory: String, from redoLSN: LSN, fileSystem: any StorageFileSystem
    ) throws(StorageError) -> Scan {
        let files = segments(in: directory)
        var scan = Scan(segmentStart: redoLSN, endLSN: redoLSN)
        var stopped = false
        for (index, file) in files.enumerated() {
            // A segment wholly before the redo point (the next starts at or before it) is a
            // leftover of a crash before its removal: recovery needs none of it, and a torn or
            // corrupt tail in it must not cut off the log after the redo point. The next
            // checkpoint removes it.
            if index + 1 < files.count, files[index + 1].start <= redoLSN { continue }
            if stopped {
                scan.truncatedBytes += (try? FileIO.readAll(file.path).count) ?? 0
                try fileSystem.remove(file.path)
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
                try fileSystem.truncate(file.path, to: offset)
                stopped = true
            }
        }
        if !files.isEmpty { try fileSystem.syncDirectory(directory) }
        return scan
    }
}

/// A thread blocked until the WAL is durable up to some LSN (or failed).
final class BlockingWait: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let outcome = Mutex<StorageError?>(nil)

    func finish(_ failure: StorageError?) {
        outcome.withLock { $0 = failure }
        semaphore.signal()
    }

    func result() -> StorageError? {
        semaphore.wait()
        return outcome.withLock { $0 }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
