import Synchronization

/// Checkpoints: the whole state written to one file, after which older WAL segments go.
///
/// The checkpoint is taken under the engine's lock (a short stop of the world: one WAL flush
/// and one in-memory encoding), then written outside it: a temporary file, `fdatasync`, rename,
/// directory sync. Only then are the WAL segments before the redo LSN removed, so a crash at
/// any point leaves either the old checkpoint with all its WAL or the new one with what follows.
extension StorageEngine {
    static let checkpointMagic: [UInt8] = Array("LBCKPT01".utf8)

    /// Writes a checkpoint and truncates the WAL before it.
    public func checkpoint() throws(StorageError) {
        try checkpoint(alreadyMarked: false)
    }

    func checkpoint(alreadyMarked: Bool) throws(StorageError) {
        if !alreadyMarked {
            let busy = state.withLock { s -> Bool in
                if s.checkpointRunning { return true }
                s.checkpointRunning = true
                return false
            }
            if busy { return }
        }
        defer { state.withLock { $0.checkpointRunning = false } }
        let (bytes, redo) = try state.withLock { s throws(StorageError) -> ([UInt8], LSN) in
            if s.closed { throw StorageError.closed }
            let redo = try wal.rotate()
            return (StorageEngine.encodeCheckpoint(s, redo: redo), redo)
        }
        try FileIO.writeAtomically(bytes, to: directory + "/" + StorageEngine.checkpointFile, directory: directory)
        try wal.removeSegments(before: redo)
        state.withLock { s in
            s.lastRedoLSN = redo
            s.statistics.checkpoints += 1
        }
    }

    static func encodeCheckpoint(_ s: State, redo: LSN) -> [UInt8] {
        var out: [UInt8] = checkpointMagic
        out.reserveCapacity(64 + s.heap.count * 48 + s.commitLog.count * 9)
        out.appendLittleEndian(redo)
        out.appendLittleEndian(s.highestXid)
        out.appendLittleEndian(UInt64(s.commitLog.count))
        for (xid, status) in s.commitLog.entries.sorted(by: { $0.key < $1.key }) {
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
        out.appendLittleEndian(UInt64(s.heap.count))
        for (key, chain) in s.heap.sorted(by: { $0.key < $1.key }) {
            out.appendLittleEndian(key)
            out.appendLittleEndian(UInt32(chain.count))
            for version in chain {
                out.appendLittleEndian(version.xmin)
                out.appendLittleEndian(version.xmax)
                out.appendLittleEndian(UInt64(bitPattern: version.row.balance))
                out.appendLittleEndian(UInt16(version.row.payload.count))
                out.append(contentsOf: version.row.payload)
            }
        }
        out.appendLittleEndian(CRC32C.checksum(out))
        return out
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
        let body = Array(bytes.dropLast(4))
        let stored = bytes.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32C.checksum(body) == stored else { throw corrupt("checksum mismatch") }
        return try withBytes(body) { raw throws(StorageError) -> (State, LSN, [CheckpointedTransaction]) in
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
            guard let heapCount = reader.read(UInt64.self) else { throw corrupt("truncated heap") }
            s.heap.reserveCapacity(Int(min(heapCount, 1 << 24)))
            for _ in 0..<heapCount {
                guard let key = reader.read(UInt64.self), let chainCount = reader.read(UInt32.self) else {
                    throw corrupt("bad heap entry")
                }
                var chain: [TupleVersion] = []
                chain.reserveCapacity(Int(chainCount))
                for _ in 0..<chainCount {
                    guard let xmin = reader.read(UInt64.self), let xmax = reader.read(UInt64.self),
                        let balance = reader.read(UInt64.self), let length = reader.read(UInt16.self),
                        let payload = reader.readBytes(Int(length))
                    else { throw corrupt("bad version of row \(key)") }
                    chain.append(
                        TupleVersion(
                            xmin: xmin, xmax: xmax, row: Row(balance: Int64(bitPattern: balance), payload: payload)))
                }
                s.heap[key] = chain
            }
            guard reader.isAtEnd else { throw corrupt("trailing bytes") }
            return (s, redo, running)
        }
    }
}
