import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Vacuum (prune, freeze, commit-log truncation), the background maintenance thread that runs it
/// and checkpoints, and read-only views of the whole heap for the harness's checks.
extension StorageEngine {
    /// Removes every version no snapshot can see (created by an aborted transaction, or replaced
    /// by one that committed below the horizon) and drops commit-log entries of finished
    /// transactions that no remaining version references. Shard by shard: the engine's lock is
    /// held for one shard at a time.
    @discardableResult
    public func vacuum() -> VacuumReport {
        vacuum(freeze: false)
    }

    /// A vacuum pass; with `freeze`, also freezes every version whose creator committed below the
    /// horizon (its `xmin` is kept, visibility stops consulting the commit log) and clears an
    /// aborted `xmax`, so that afterwards no version references a transaction below the horizon
    /// and the commit log is truncated below it (PostgreSQL's `VACUUM FREEZE` and clog
    /// truncation). Background vacuum always freezes.
    @discardableResult
    public func vacuum(freeze: Bool) -> VacuumReport {
        vacuumSerial.withLock { _ in
            // The horizon only moves forward (finished transactions leave, new ones get larger
            // ids), so the one taken at the start is safe for every shard.
            guard let horizon = state.withLock({ $0.closed ? nil : StorageEngine.horizon($0) }) else {
                return VacuumReport(horizon: 0, versionsRemoved: 0, commitLogEntriesRemoved: 0)
            }
            var removed = 0
            var frozen = 0
            // Transactions below the horizon still named by a version (none after a freezing
            // pass: their versions are frozen, pruned, or had an aborted xmax cleared).
            var referenced = Set<TransactionID>()
            var scanned = 0
            var yields = 0
            for shard in 0..<Heap.shardCount {
                let visited = state.withLock { s -> Int in
                    guard !s.closed else { return 0 }
                    // Only the shard's dirty rows (see `Heap.dirty`): every other row is all-frozen
                    // with no xmax, and a pass has nothing to do there. The set is swapped out and
                    // the rows that keep an unfrozen version or an xmax are put back.
                    var keys = Set<AccountID>()
                    swap(&keys, &s.heap.dirty[shard])
                    var stillDirty = Set<AccountID>()
                    for key in keys {
                        guard var chain = s.heap.shards[shard].removeValue(forKey: key) else { continue }
                        scanned += 1
                        let (gone, iced) = StorageEngine.vacuumChain(
                            &chain.versions, horizon: horizon, freeze: freeze, s.commitLog, referenced: &referenced)
                        removed += gone
                        frozen += iced
                        s.versionCount -= gone
                        guard !chain.versions.isEmpty else { continue }
                        if chain.needsVacuum { stillDirty.insert(key) }
                        StorageEngine.releaseSpareCapacity(&chain.versions)
                        s.heap.shards[shard][key] = chain
                    }
                    s.heap.dirty[shard] = stillDirty
                    return keys.count
                }
                // Only after a hold that did work: an empty shard's hold is a swap of empty sets,
                // and a yield costs up to a time slice on a loaded machine (4,096 of them made a
                // quiet pass take seconds).
                if visited > 0 {
                    StorageEngine.yieldToCommitters()
                    yields += 1
                }
            }
            // Truncation: the candidates are listed under the lock, then removed a bounded chunk
            // per lock hold (a finished transaction below the horizon stays finished).
            let candidates = state.withLock { s in
                s.commitLog.entries.compactMap { xid, status -> TransactionID? in
                    xid < horizon && status != .prepared && s.active[xid] == nil && !referenced.contains(xid)
                        ? xid : nil
                }
            }
            var dropped = 0
            var start = 0
            while start < candidates.count {
                let end = min(candidates.count, start + StorageEngine.truncationChunk)
                state.withLock { s in
                    for xid in candidates[start..<end] where s.commitLog.status(of: xid) != .prepared {
                        s.commitLog.remove(xid)
                        dropped += 1
                    }
                }
                StorageEngine.yieldToCommitters()
                yields += 1
                start = end
            }
            return state.withLock { s in
                // A pushed timestamp's alias matters only to a snapshot listing its original in
                // progress; every such snapshot has xmin <= original and its owner, still running,
                // holds the horizon at or below it. Below the horizon, none is left. (The alias
                // keeps nothing else alive: versions stamped T are frozen or pruned by T's own
                // commit-log status, and T > original, so a T below the horizon has its original
                // below it too.)
                let aliasesRemoved = s.commitLog.pruneAliases(below: horizon)
                s.commitLog.releaseSpareCapacity()
                s.statistics.versionsVacuumed += UInt64(removed)
                s.statistics.versionsFrozen += UInt64(frozen)
                s.statistics.vacuums += 1
                s.statistics.vacuumRowsScanned += UInt64(scanned)
                s.commitLogAfterVacuum = s.commitLog.count
                return VacuumReport(
                    horizon: horizon, versionsRemoved: removed, commitLogEntriesRemoved: dropped,
                    versionsFrozen: frozen, aliasesRemoved: aliasesRemoved, processorYields: yields)
            }
        }
    }

    /// Debug check of the dirty-set invariant (see `Heap.dirty`): every row not in its shard's
    /// dirty set is all-frozen with no xmax. Returns the number of rows violating it, and fails
    /// an `assert` (debug builds) when there is one. A full heap scan: for tests only.
    @discardableResult
    func assertVacuumMapInvariant() -> Int {
        state.withLock { s in
            var violations = 0
            for shard in 0..<Heap.shardCount {
                for (key, chain) in s.heap.shards[shard] where !s.heap.dirty[shard].contains(key) && chain.needsVacuum {
                    violations += 1
                }
            }
            assert(violations == 0, "\(violations) rows need vacuum but are not in the dirty set")
            return violations
        }
    }

    /// The reference full scan, without changing anything: what a vacuum pass visiting every row
    /// of the heap (the pre-dirty-set algorithm) would change now, at the current horizon.
    /// Returns the rows whose chain it would change (versions removed, frozen, or an aborted
    /// xmax cleared). For tests: after a dirty-set pass it must find nothing.
    func referenceFullScanChanges(freeze: Bool) -> Int {
        state.withLock { s in
            let horizon = StorageEngine.horizon(s)
            var referenced = Set<TransactionID>()
            var changed = 0
            for (_, chain) in s.heap.rows {
                var versions = chain.versions
                _ = StorageEngine.vacuumChain(
                    &versions, horizon: horizon, freeze: freeze, s.commitLog, referenced: &referenced)
                let same =
                    versions.count == chain.versions.count
                    && zip(versions, chain.versions).allSatisfy {
                        $0.xmin == $1.xmin && $0.xmax == $1.xmax && $0.frozen == $1.frozen
                    }
                if !same { changed += 1 }
            }
            return changed
        }
    }

    /// Between two lock holds of a background pass: gives the processor to the committers the hold
    /// kept waiting. The engine's lock is not fair: a thread that releases it and takes it again at
    /// once wins over the waiters it just woke, and a vacuum of a large heap (shard after shard)
    /// measured TPS down to 1-2 % of normal for seconds without this.
    @inline(__always)
    static func yieldToCommitters() {
        sched_yield()
    }

    /// Vacuums one chain: removes its dead versions, freezes (with `freeze`) the committed ones
    /// below the horizon, and adds the transactions below the horizon it still names to
    /// `referenced`. Returns the versions removed and frozen.
    static func vacuumChain(
        _ chain: inout [TupleVersion], horizon: TransactionID, freeze: Bool, _ commitLog: CommitLog,
        referenced: inout Set<TransactionID>
    ) -> (removed: Int, frozen: Int) {
        let before = chain.count
        chain.removeAll { isDead($0, horizon: horizon, commitLog) }
        var frozen = 0
        for index in chain.indices {
            if freeze {
                if !chain[index].frozen, chain[index].xmin < horizon, commitLog.isCommitted(chain[index].xmin) {
                    chain[index].frozen = true
                    frozen += 1
                }
                let xmax = chain[index].xmax
                if xmax != 0, commitLog.status(of: xmax) == .aborted { chain[index].xmax = 0 }
            }
            let version = chain[index]
            if !version.frozen, version.xmin < horizon { referenced.insert(version.xmin) }
            if version.xmax != 0, version.xmax < horizon { referenced.insert(version.xmax) }
        }
        return (before - chain.count, frozen)
    }

    /// Gives back a chain's spare capacity (PostgreSQL's vacuum compacting a page): `chain` is
    /// re-allocated at its count when it has room for more versions than it holds. An updated row
    /// grows its chain's array (one live and one dead version, or more, between two passes), and
    /// the array kept that capacity after the dead versions were removed: a row once updated held
    /// 112 to 384 bytes instead of 80 for ever, so memory grew with the rows touched for the first
    /// time (about 38 bytes per transfer from 10 s to 60 s at 1 M accounts, modelled; every account
    /// touched by then). The row's next update re-allocates: one allocation per updated row per
    /// pass. Returns the version slots given back.
    @discardableResult
    static func releaseSpareCapacity(_ chain: inout [TupleVersion]) -> Int {
        let spare = chain.capacity - chain.count
        guard spare > 0 else { return 0 }
        var compact: [TupleVersion] = []
        compact.reserveCapacity(chain.count)
        // An allocator rounds up: a fresh array of this count may hold the same room (nothing to gain).
        guard compact.capacity < chain.capacity else { return 0 }
        compact.append(contentsOf: chain)
        chain = compact
        return spare - (compact.capacity - compact.count)
    }

    /// Bound on commit-log entries removed per hold of the engine's lock.
    static let truncationChunk = 4_096

    // MARK: - The maintenance thread (checkpointer and autovacuum)

    /// Called under the lock after a commit: asks the maintenance thread for a checkpoint (WAL
    /// past the threshold since the last redo point) or a vacuum (commit log past its bound).
    /// Returns whether the thread must be woken.
    func requestMaintenanceIfDue(lsn: LSN, _ s: inout State) -> Bool {
        var wake = false
        if options.checkpointWALBytes > 0, !s.checkpointRequested,
            !(options.paceCheckpointsByImage && s.checkpointRunning),
            // A checkpoint may have started while this commit waited: its redo point is then past
            // this commit's LSN, and no new checkpoint is due on this commit's account.
            lsn > s.lastRedoLSN,
            lsn - s.lastRedoLSN
                > max(options.checkpointWALBytes, options.paceCheckpointsByImage ? s.statistics.lastCheckpointBytes : 0)
        {
            s.checkpointRequested = true
            wake = true
        }
        if options.vacuumCommitLogEntries > 0, !s.vacuumRequested,
            s.commitLog.count > s.commitLogAfterVacuum + options.vacuumCommitLogEntries
        {
            s.vacuumRequested = true
            wake = true
        }
        return wake
    }

    /// Blocks until the maintenance work requested so far (checkpoint, vacuum) is done: tests and
    /// the harness wait for it by structure, not by time. Returns at once after close or crash.
    public func waitForMaintenance() {
        let fence = BlockingWait()
        let closed = state.withLock { s -> Bool in
            if s.closed { return true }
            s.maintenanceFences.append(fence)
            return false
        }
        if closed { return }
        maintenanceWake.signal()
        _ = fence.result()
    }

    func maintenanceLoop() {
        while true {
            maintenanceWake.wait()
            while true {
                // The fences are taken in the same lock hold that finds no work pending, so work
                // requested after the last check is never skipped by a waiter released early.
                let step = state.withLock {
                    s -> (checkpoint: Bool, vacuum: Bool, closed: Bool, fences: [BlockingWait]) in
                    let (checkpoint, vacuum) = (s.checkpointRequested, s.vacuumRequested)
                    s.checkpointRequested = false
                    s.vacuumRequested = false
                    guard s.closed || (!checkpoint && !vacuum) else { return (checkpoint, vacuum, false, []) }
                    defer { s.maintenanceFences = [] }
                    return (checkpoint, vacuum, s.closed, s.maintenanceFences)
                }
                if step.closed {
                    for fence in step.fences { fence.finish(nil) }
                    maintenanceExited.signal()
                    return
                }
                if !step.checkpoint && !step.vacuum {
                    for fence in step.fences { fence.finish(nil) }
                    break
                }
                if step.vacuum { vacuum(freeze: true) }
                if step.checkpoint {
                    state.withLock { $0.checkpointRunning = true }
                    defer { state.withLock { $0.checkpointRunning = false } }
                    do throws(StorageError) { try checkpoint() } catch {
                        // The commits that asked for it are durable; a failed write or sync has
                        // poisoned the engine (later commits fail), other failures are retried
                        // by the next checkpoint due.
                        state.withLock { $0.statistics.checkpointFailures += 1 }
                    }
                }
            }
        }
    }

    /// Stops the maintenance thread (after `closed` is set) and waits until it has exited.
    func stopMaintenance() {
        maintenanceWake.signal()
        maintenanceExited.wait()
    }

    /// Every row's latest committed version with the id of the transaction that wrote it, in key
    /// order: what conservation, durability and cross-layer identity checks read.
    public func committedRows() -> [CommittedRow] {
        state.withLock { s in
            s.heap.rows.compactMap { key, chain -> CommittedRow? in
                for version in chain.versions.reversed() where s.commitLog.creatorCommitted(version) {
                    return CommittedRow(key: key, row: version.row, xmin: version.xmin)
                }
                return nil
            }.sorted { $0.key < $1.key }
        }
    }

    /// A hash of the committed state (keys, balances, payloads and xmins), equal on replicas
    /// that applied the same transactions.
    public func stateHash() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            var v = value
            for _ in 0..<8 {
                hash = (hash ^ (v & 0xFF)) &* 0x0000_0100_0000_01B3
                v >>= 8
            }
        }
        for row in committedRows() {
            mix(row.key)
            mix(UInt64(bitPattern: row.row.balance))
            mix(row.xmin)
            for byte in row.row.payload { mix(UInt64(byte)) }
        }
        return hash
    }
}

/// A row's latest committed version, as the checks read it.
public struct CommittedRow: Sendable, Hashable {
    /// The account id.
    public var key: AccountID
    /// Its committed value.
    public var row: Row
    /// The transaction that wrote it (its L2 timestamp and L1 id, by the cross-layer identity).
    public var xmin: TransactionID

    /// Creates a row record.
    public init(key: AccountID, row: Row, xmin: TransactionID) {
        self.key = key
        self.row = row
        self.xmin = xmin
    }
}
