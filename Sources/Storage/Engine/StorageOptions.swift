/// Settings of a storage engine.
public struct StorageOptions: Sendable {
    /// How commits are made durable.
    public var durability: Durability
    /// A checkpoint runs automatically, on the background maintenance thread, once this many
    /// bytes of WAL follow the last one's redo point (0 disables automatic checkpoints). Bounds
    /// recovery time and WAL disk use.
    public var checkpointWALBytes: UInt64
    /// Whether the next automatic checkpoint also waits for as many WAL bytes as the last image
    /// had (PostgreSQL sizes `max_wal_size` so that checkpoints do not rewrite the data faster
    /// than the WAL grows): checkpoint writes then stay at most the WAL's bytes plus one image,
    /// however large the heap. Off, a checkpoint follows every `checkpointWALBytes`.
    public var paceCheckpointsByImage: Bool
    /// A write prunes its row's version chain once it is longer than this (PostgreSQL's
    /// heap-only-tuple pruning), so hot rows do not grow unbounded chains between vacuums.
    public var pruneChainLength: Int
    /// Background vacuum (prune, freeze, commit-log truncation) runs once the commit log holds
    /// this many entries (0 disables it). Bounds the commit log, and so memory, checkpoints and
    /// recovery, whatever the run's length.
    public var vacuumCommitLogEntries: Int
    /// The clock of the engine's counters (commit wait, WAL write and fsync times).
    public var clock: any EngineClock
    /// The file operations of the WAL and checkpoints (`FaultInjectingFileSystem` in tests).
    public var fileSystem: any StorageFileSystem
    /// Whether the engine keeps its own write-ahead log. A replica of a Raft group does not: its
    /// Raft log is its WAL (one append and one fsync per batch, never a second of the same
    /// commit), so records are neither encoded nor written, commits wait for nothing here, no
    /// checkpoint is taken, and the engine is rebuilt from the Raft snapshot and log at restart.
    public var writeAheadLog: Bool
    /// Where ids come from when `begin` is given none: called under the engine's lock with the
    /// highest id seen, it returns the next (which must be higher). Nil: the next integer. A
    /// replica passes its hybrid logical clock, so every transaction id is an L2 timestamp.
    public var transactionIDs: (@Sendable (_ highest: TransactionID) -> TransactionID)?

    /// Creates options; the defaults are durable (`fsync`) with a checkpoint every 64 MiB of WAL
    /// and a vacuum every 256 Ki commit-log entries.
    public init(
        durability: Durability = .fsync, checkpointWALBytes: UInt64 = 64 << 20, pruneChainLength: Int = 8,
        vacuumCommitLogEntries: Int = 1 << 18, clock: any EngineClock = SystemClock.shared,
        fileSystem: any StorageFileSystem = PosixFileSystem.shared, writeAheadLog: Bool = true,
        paceCheckpointsByImage: Bool = false,
        transactionIDs: (@Sendable (_ highest: TransactionID) -> TransactionID)? = nil
    ) {
        precondition(pruneChainLength >= 1, "a chain holds at least its live version")
        precondition(vacuumCommitLogEntries >= 0, "a vacuum threshold is a count")
        self.durability = durability
        self.checkpointWALBytes = checkpointWALBytes
        self.pruneChainLength = pruneChainLength
        self.vacuumCommitLogEntries = vacuumCommitLogEntries
        self.clock = clock
        self.fileSystem = fileSystem
        self.writeAheadLog = writeAheadLog
        self.paceCheckpointsByImage = paceCheckpointsByImage
        self.transactionIDs = transactionIDs
    }
}
