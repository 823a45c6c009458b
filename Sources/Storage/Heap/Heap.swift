/// A row's version chain (oldest to newest) and the end LSN of the last WAL record applied to
/// it: PostgreSQL's page LSN, which makes replay over a fuzzy checkpoint idempotent (a record at
/// or below the chain's LSN is already reflected in it and is skipped).
struct VersionChain: Sendable {
    var versions: [TupleVersion]
    var lsn: LSN

    /// Whether a vacuum pass can have work on this chain: a version not yet frozen or with an
    /// `xmax` set (live, aborted, or replaced by a committed transaction).
    var needsVacuum: Bool {
        versions.contains { !$0.frozen || $0.xmax != 0 }
    }
}

/// The heap: every row's version chain, split into `shardCount` shards by a hash of the key, so
/// that background work (fuzzy checkpoints, vacuum) holds the engine's lock for one shard at a
/// time, and so that growing the heap rehashes one small dictionary at a time.
struct Heap: Sendable {
    static let shardBits = 12
    /// Bound on the rows a background step handles under the lock: one shard, about
    /// rows / 4096 (2,500 rows at 10M accounts).
    static let shardCount = 1 << shardBits

    var shards: [[AccountID: VersionChain]] = Array(repeating: [:], count: Heap.shardCount)

    /// Per shard, the keys vacuum must visit (PostgreSQL's visibility map, inverted: the set
    /// lists the rows NOT all-frozen). Invariant: a key of the heap that is NOT in its shard's
    /// dirty set has a chain whose versions are all frozen and have `xmax == 0` (so a vacuum
    /// pass, freezing or not, has nothing to remove, freeze, clear or reference there). Every
    /// store through `subscript(key:)` marks the key when its chain `needsVacuum`; code writing
    /// `shards` directly (vacuum) keeps the invariant itself. A key may stay in the set after
    /// its row is gone (vacuum skips it). Checked by `StorageEngine.assertVacuumMapInvariant()`.
    var dirty: [Set<AccountID>] = Array(repeating: [], count: Heap.shardCount)

    /// The shard of `key` (Fibonacci hashing: consecutive keys spread evenly).
    @inline(__always)
    static func shard(of key: AccountID) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - shardBits))
    }

    subscript(key: AccountID) -> VersionChain? {
        get { shards[Heap.shard(of: key)][key] }
        set {
            let shard = Heap.shard(of: key)
            if let newValue, newValue.needsVacuum { dirty[shard].insert(key) }
            shards[shard][key] = newValue
        }
    }

    mutating func removeValue(forKey key: AccountID) -> VersionChain? {
        shards[Heap.shard(of: key)].removeValue(forKey: key)
    }

    /// Rows in the heap.
    var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Versions in the heap, live and dead.
    var versionCount: Int { shards.reduce(0) { total, shard in shard.values.reduce(total) { $0 + $1.versions.count } } }

    /// Makes room for `rows` more rows (a bulk load), so no shard rehashes while they arrive.
    /// Growth is geometric (at least doubling), so that many calls for small batches stay linear.
    mutating func reserveCapacity(adding rows: Int) {
        let perShard = rows / Heap.shardCount + rows / (Heap.shardCount * 8) + 16
        for index in shards.indices {
            let needed = shards[index].count + perShard
            let capacity = shards[index].capacity
            if needed > capacity { shards[index].reserveCapacity(max(needed, capacity * 2)) }
        }
    }

    /// Every row, in no particular order.
    var rows: some Sequence<(key: AccountID, value: VersionChain)> { shards.joined() }
}
