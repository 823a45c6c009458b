import Synchronization

/// Checkpoints: fuzzy, incremental and off the commit path (PostgreSQL's spread checkpoint).
///
/// 1. Under the engine's lock, briefly: the redo point (the WAL's insert position, where a new
///    segment will start), the commit log and the running transactions.
/// 2. Shard by shard, each under the lock for one shard only: the heap's rows, each with the LSN
///    of the last record applied to it, streamed into a temporary file outside the lock.
///    Commits go on between shards, so the image is fuzzy: a row reflects every record up to its
///    own LSN (at least the redo point), and replay from the redo point skips what a row already
///    has (idempotent across the overlap).
/// 3. The WAL is made durable up to everything the image reflects (the WAL-before-data rule),
///    then the file: `fdatasync`, rename, directory sync. Only then are the segments before the
///    redo point removed, so a crash at any point leaves either the old checkpoint with all its
///    WAL or the new one with what follows.
///
/// A failed `write`, `fdatasync` or directory sync poisons the engine (fail-stop); a failed
/// `open` or `rename` fails only this checkpoint, and the next one tries again.
extension StorageEngine {
    static let checkpointMagic: [UInt8] = Array("LBCKPT02".utf8)
    /// Bound on the checkpoint bytes written between two syncs of the file.
    static let checkpointFlushBytes = 256 << 10

    /// Writes a checkpoint and truncates the WAL before it (waits for one already running).
    public func checkpoint() throws(StorageError) {
        try checkpointSerial.withLock { _ throws(StorageError) in try runCheckpoint() }
    }

    private func runCheckpoint() throws(StorageError) {
        let fileSystem = options.fileSystem
        let (header, redo) = try state.withLock { s throws(StorageError) -> ([UInt8], LSN) in
            if s.closed { throw StorageError.closed }
            let redo = try wal.requestSegmentSwitch()
            s.lastRedoLSN = max(s.lastRedoLSN, redo)
            return (StorageEngine.encodeCheckpointHeader(s, redo: redo), redo)
        }
        let path = directory + "/" + StorageEngine.checkpointFile
        let temporary = path + ".tmp"
        let fd = try fileSystem.open(temporary, truncating: true)
        defer { fileSystem.close(fd) }
        /// A failed write or sync leaves the disk in an unknown state: fail-stop.
        func poisoning(_ body: () throws(StorageError) -> Void) throws(StorageError) {
            do throws(StorageError) { try body() } catch {
                wal.fail(error)
                throw error
            }
        }
        var crc = CRC32C.checksum(header)
        var imageBytes = UInt64(header.count)
        try poisoning { () throws(StorageError) in
            try withBytes(header) { raw throws(StorageError) in try fileSystem.write(fd, raw, path: temporary) }
        }
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1 << 16)
        var unsynced = 0
        for shard in 0..<Heap.shardCount {
            chunk.removeAll(keepingCapacity: true)
            try state.withLock { s throws(StorageError) in
                if s.closed { throw StorageError.closed }
                StorageEngine.encodeShard(s.heap.shards[shard], into: &chunk)
            }
            crc = chunk.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
            try poisoning { () throws(StorageError) in
                try withBytes(chunk) { raw throws(StorageError) in try fileSystem.write(fd, raw, path: temporary) }
            }
            // Spread the write-back (PostgreSQL's checkpoint_flush_after): a sync every
            // `checkpointFlushBytes` keeps the dirty data small, so a committer's WAL fsync never
            // queues behind the whole image.
            unsynced += chunk.count
            imageBytes += UInt64(chunk.count)
            if unsynced >= StorageEngine.checkpointFlushBytes, options.durability == .fsync {
                try poisoning { () throws(StorageError) in try fileSystem.dataSync(fd, path: temporary) }
                unsynced = 0
            }
        }
        // Every record the image reflects is durable before the image is (and the segment
        // switch at the redo point is done). On stable storage, also with durability `none`:
        // else a power failure cuts records off the WAL that the image keeps (versions of
        // transactions recovery never hears of, with ids above its highest, handed out again).
        try wal.waitDurableBlocking(wal.insertLSN)
        try wal.syncWritten()
        var trailer: [UInt8] = []
        trailer.appendLittleEndian(crc)
        try poisoning { () throws(StorageError) in
            try withBytes(trailer) { raw throws(StorageError) in try fileSystem.write(fd, raw, path: temporary) }
            try fileSystem.dataSync(fd, path: temporary)
        }
        try fileSystem.rename(temporary, to: path)
        try poisoning { () throws(StorageError) in try fileSystem.syncDirectory(directory) }
        try wal.removeSegments(before: redo)
        state.withLock { s in
            s.statistics.checkpoints += 1
            s.statistics.checkpointBytes += imageBytes
            s.statistics.lastCheckpointBytes = imageBytes
        }
    }

    /// The whole checkpoint image of `s` at once (tests; the engine streams it shard by shard).
    static func encodeCheckpoint(_ s: State, redo: LSN) -> [UInt8] {
        var out = encodeCheckpointHeader(s, redo: redo)
        for shard in s.heap.shards { encodeShard(shard, into: &out) }
        out.appendLittleEndian(CRC32C.checksum(out))
        return out
    }

    /// Magic, redo point, highest xid, the commit log, and the running and prepared
    /// transactions with the rows they hold.
    static func encodeCheckpointHeader(_ s: State, redo: LSN) -> [UInt8] {
        var out: [UInt8] = checkpointMagic
        out.reserveCapacity(64 + s.commitLog.count * 9)
        out.appendLittleEndian(redo)
        out.appendLittleEndian(s.highestXid)
        out.appendLittleEndian(UInt64(s.commitLog.count))
        for (xid, status) in s.commitLog.entries {
            out.appendLittleEndian(xid)
            out.append(status.rawValue)
        }
        // Running and prepared transactions, with the rows they hold: a prepared one keeps its
        // locks after recovery, a running one is aborted unless the WAL after `redo` commits it.
        let running = s.active.filter { $0.value.phase != .committing }.sorted { $0.key < $1.key }
        out.appendLittleEndian(UInt64(running.count))
        for (xid, txn) in running {
            out.appendLittleEndian(xid)
            out.append(txn.phase == .prepared ? 1 : 0)
            out.append(txn.wroteWAL ? 1 : 0)
            out.appendLittleEndian(UInt32(txn.lockedKeys.count))
            for key in txn.lockedKeys { out.appendLittleEndian(key) }
        }
        out.appendLittleEndian(UInt32(Heap.shardCount))
        return out
    }

    /// One shard: its row count, then each row's key, LSN and versions.
    static func encodeShard(_ shard: [AccountID: VersionChain], into out: inout [UInt8]) {
        out.appendLittleEndian(UInt32(shard.count))
        for (key, chain) in shard {
            out.appendLittleEndian(key)
            out.appendLittleEndian(chain.lsn)
            out.appendLittleEndian(UInt32(chain.versions.count))
            for version in chain.versions {
                out.appendLittleEndian(version.xmin)
                out.appendLittleEndian(version.xmax)
                out.append(version.frozen ? 1 : 0)
                out.appendLittleEndian(UInt64(bitPattern: version.row.balance))
                out.appendLittleEndian(UInt16(version.row.payload.count))
                out.append(contentsOf: version.row.payload)
            }
        }
    }

    /// A transaction restored from a checkpoint.
    struct CheckpointedTransaction {
        var xid: TransactionID
        var prepared: Bool
        var wroteWAL: Bool
        var keys: [AccountID]
    }

    static func decodeCheckpoint(
        _ bytes: [UInt8], path: String
    ) throws(StorageError) -> (State, LSN, [CheckpointedTransaction]) {
        func corrupt(_ reason: String) -> StorageError { .corruptCheckpoint(path: path, reason: reason) }
        guard bytes.count >= checkpointMagic.count + 4, Array(bytes.prefix(checkpointMagic.count)) == checkpointMagic
        else { throw corrupt("bad magic or too short (\(bytes.count) bytes)") }
        let stored = bytes.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        return try withBytes(bytes) { whole throws(StorageError) -> (State, LSN, [CheckpointedTransaction]) in
            let raw = UnsafeRawBufferPointer(rebasing: whole[..<(whole.count - 4)])
            guard CRC32C.checksum(raw) == stored else { throw corrupt("checksum mismatch") }
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[checkpointMagic.count...]))
            var s = State()
            guard let redo = reader.read(UInt64.self), let highest = reader.read(UInt64.self),
                let clogCount = reader.read(UInt64.self)
            else { throw corrupt("truncated header") }
            s.highestXid = highest
            for _ in 0..<clogCount {
                guard let xid = reader.read(UInt64.self), let raw = reader.readByte(),
                    let status = TransactionStatus(rawValue: raw)
                else { throw corrupt("bad commit log entry") }
                s.commitLog.set(xid, status)
            }
            guard let runningCount = reader.read(UInt64.self) else { throw corrupt("truncated transactions") }
            var running: [CheckpointedTransaction] = []
            for _ in 0..<runningCount {
                guard let xid = reader.read(UInt64.self), let prepared = reader.readByte(),
                    let wrote = reader.readByte(), let keyCount = reader.read(UInt32.self)
                else { throw corrupt("bad transaction entry") }
                var keys: [AccountID] = []
                for _ in 0..<keyCount {
                    guard let key = reader.read(UInt64.self) else { throw corrupt("bad transaction key") }
                    keys.append(key)
                }
                running.append(
                    CheckpointedTransaction(xid: xid, prepared: prepared == 1, wroteWAL: wrote == 1, keys: keys))
            }
            guard let shardCount = reader.read(UInt32.self), shardCount == Heap.shardCount else {
                throw corrupt("bad shard count")
            }
            for shard in 0..<Int(shardCount) {
                guard let rowCount = reader.read(UInt32.self) else { throw corrupt("truncated shard \(shard)") }
                s.heap.shards[shard].reserveCapacity(Int(rowCount))
                for _ in 0..<rowCount {
                    guard let key = reader.read(UInt64.self), let lsn = reader.read(UInt64.self),
                        let chainCount = reader.read(UInt32.self)
                    else { throw corrupt("bad heap entry") }
                    guard Heap.shard(of: key) == shard else { throw corrupt("row \(key) in the wrong shard") }
                    var chain: [TupleVersion] = []
                    chain.reserveCapacity(Int(chainCount))
                    for _ in 0..<chainCount {
                        guard let xmin = reader.read(UInt64.self), let xmax = reader.read(UInt64.self),
                            let frozen = reader.readByte(), let balance = reader.read(UInt64.self),
                            let length = reader.read(UInt16.self), let payload = reader.readBytes(Int(length))
                        else { throw corrupt("bad version of row \(key)") }
                        chain.append(
                            TupleVersion(
                                xmin: xmin, xmax: xmax, row: Row(balance: Int64(bitPattern: balance), payload: payload),
                                frozen: frozen == 1))
                    }
                    // Through the heap's subscript: marks the row dirty if vacuum has work on it.
                    s.heap[key] = VersionChain(versions: chain, lsn: lsn)
                }
            }
            guard reader.isAtEnd else { throw corrupt("trailing bytes") }
            return (s, redo, running)
        }
    }
}
