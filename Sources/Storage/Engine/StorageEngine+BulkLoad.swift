import Synchronization

/// Bulk loading (the initial accounts): PostgreSQL's `COPY` into a new table, as `pgbench -i`.
extension StorageEngine {
    /// Bound on the rows of one bulk-load chunk: one WAL record and one hold of the engine's lock
    /// each (about 2-4 ms at ~150 ns per row).
    public static let bulkLoadChunkRows = 16_384

    /// Inserts the rows `keys`, all with the value `row`, as one transaction committed durably,
    /// and returns its id (the `xmin` of every row). The heap is sized once for all of them, each
    /// chunk of `bulkLoadChunkRows` rows is one WAL record and one short hold of the lock, and the
    /// commit is one `fdatasync`: loading is linear in the rows. None of the keys may exist
    /// (`duplicateKey`), and the caller must be their only writer while it runs (an initial load).
    @discardableResult
    public func bulkLoad(keys: Range<AccountID>, row: Row) async throws(StorageError) -> TransactionID {
        guard row.payload.count <= Row.maxPayloadBytes else {
            throw StorageError.payloadTooLarge(key: keys.lowerBound, bytes: row.payload.count)
        }
        let xid = try begin()
        var next = keys.lowerBound
        do throws(StorageError) {
            state.withLock { $0.heap.reserveCapacity(adding: keys.count) }
            while next < keys.upperBound {
                let end = min(keys.upperBound, next + AccountID(StorageEngine.bulkLoadChunkRows))
                try state.withLock { s throws(StorageError) in
                    if s.closed { throw StorageError.closed }
                    // A row exists if a version is live (as for `insert`); a chain of dead
                    // versions only (an aborted load's, before vacuum) is loaded over.
                    for key in next..<end {
                        guard let chain = s.heap[key] else { continue }
                        if let holder = s.rowLocks[key] { throw StorageError.rowLocked(key: key, holder: holder) }
                        if StorageEngine.liveIndex(chain.versions, owner: xid, s.commitLog) != nil {
                            throw StorageError.duplicateKey(key: key)
                        }
                    }
                    let lsn = try wal.append(.bulkLoad(xid: xid, firstKey: next, count: UInt32(end - next), row: row))
                    s.active[xid]?.wroteWAL = true
                    var fresh = 0
                    for key in next..<end {
                        guard s.heap[key] == nil else {
                            // The rare case, as replay does it: a new version after the dead ones.
                            StorageEngine.applyWrite(xid: xid, key: key, row: row, lsn: lsn, state: &s)
                            continue
                        }
                        s.heap[key] = VersionChain(versions: [TupleVersion(xmin: xid, xmax: 0, row: row)], lsn: lsn)
                        fresh += 1
                    }
                    s.statistics.versionsWritten += UInt64(fresh)
                    s.versionCount += fresh
                }
                next = end
            }
        } catch {
            try? abort(xid)
            throw error
        }
        try await commit(xid)
        freezeLoaded(keys, xid: xid)
        return xid
    }

    /// PostgreSQL's `COPY ... FREEZE`: once the load is durably committed, its rows are frozen
    /// (and leave vacuum's dirty sets), chunk by chunk under short lock holds, so the first vacuum
    /// after a large load does not visit every loaded row during the measured run. A row some
    /// other transaction already wrote again keeps its chain for vacuum. A crash before the next
    /// checkpoint replays the load unfrozen, which is correct and only costs that vacuum.
    private func freezeLoaded(_ keys: Range<AccountID>, xid: TransactionID) {
        var next = keys.lowerBound
        while next < keys.upperBound {
            let end = min(keys.upperBound, next + AccountID(StorageEngine.bulkLoadChunkRows))
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                for key in next..<end {
                    let shard = Heap.shard(of: key)
                    guard var chain = s.heap.shards[shard][key], chain.versions.count == 1,
                        chain.versions[0].xmin == xid, chain.versions[0].xmax == 0, !chain.versions[0].frozen
                    else { continue }
                    chain.versions[0].frozen = true
                    s.heap.shards[shard][key] = chain
                    s.heap.dirty[shard].remove(key)
                    s.statistics.versionsFrozen += 1
                }
                return false
            }
            if closed { return }
            next = end
        }
    }
}
