/// Counters of the write-ahead log, cumulative since the engine opened.
public struct WALStatistics: Sendable, Hashable {
    /// `fdatasync` calls made (0 with durability `none`).
    public var fsyncs: UInt64 = 0
    /// `write` calls made.
    public var writes: UInt64 = 0
    /// Commit and prepare records made durable (each waited for by one committer).
    public var commitsFlushed: UInt64 = 0
    /// Bytes of WAL written.
    public var bytesWritten: UInt64 = 0
    /// Nanoseconds spent in `write`.
    public var writeNanos: UInt64 = 0
    /// Nanoseconds spent in `fdatasync`.
    public var fsyncNanos: UInt64 = 0
    /// The most commits one flush covered.
    public var maxCommitsPerFlush: UInt64 = 0
    /// How many flushes covered 1, 2-3, 4-7, ... commits (bucket `i` counts flushes of
    /// `2^i ..< 2^(i+1)` commits; the last bucket takes everything larger).
    public var commitsPerFlushBuckets: [UInt64] = Array(repeating: 0, count: 12)
    /// Flushes that covered at least one commit.
    public var commitFlushes: UInt64 = 0

    /// Mean commits made durable per flush that carried commits: the group-commit factor.
    public var commitsPerFlush: Double {
        commitFlushes == 0 ? 0 : Double(commitsFlushed) / Double(commitFlushes)
    }

    mutating func recordFlush(commits: Int) {
        guard commits > 0 else { return }
        commitFlushes += 1
        commitsFlushed += UInt64(commits)
        maxCommitsPerFlush = max(maxCommitsPerFlush, UInt64(commits))
        let bucket = min(Int.bitWidth - 1 - commits.leadingZeroBitCount, commitsPerFlushBuckets.count - 1)
        commitsPerFlushBuckets[bucket] += 1
    }
}
