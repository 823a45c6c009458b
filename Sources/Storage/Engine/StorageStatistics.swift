/// Counters the harness reads from a storage engine, cumulative since it opened.
public struct StorageStatistics: Sendable, Hashable {
    /// Tuple versions created (inserts and updates, including those later aborted).
    public var versionsWritten: UInt64 = 0
    /// Transactions committed (read-only ones included).
    public var commits: UInt64 = 0
    /// Transactions aborted.
    public var aborts: UInt64 = 0
    /// Transactions prepared for two-phase commit.
    public var prepares: UInt64 = 0
    /// Prepared transactions committed at a timestamp above their id (the commit-timestamp push:
    /// their versions were restamped with it).
    public var commitTimestampPushes: UInt64 = 0
    /// Writes and locks refused because another transaction held the row.
    public var rowLockConflicts: UInt64 = 0
    /// Writes refused by first-updater-wins (the row changed after the writer's snapshot).
    public var concurrentUpdateConflicts: UInt64 = 0
    /// Nanoseconds spent encoding and appending WAL records to the buffer.
    public var walAppendNanos: UInt64 = 0
    /// Nanoseconds committers spent waiting for their commit record to be durable.
    public var commitWaitNanos: UInt64 = 0
    /// Dead versions removed by pruning on write.
    public var versionsPruned: UInt64 = 0
    /// Dead versions removed by vacuum.
    public var versionsVacuumed: UInt64 = 0
    /// Checkpoints completed.
    public var checkpoints: UInt64 = 0
    /// Bytes of checkpoint images written (all checkpoints).
    public var checkpointBytes: UInt64 = 0
    /// Bytes of the last checkpoint image written.
    public var lastCheckpointBytes: UInt64 = 0
    /// Background checkpoints that failed (a failed write or sync also poisons the engine).
    public var checkpointFailures: UInt64 = 0
    /// Versions frozen by vacuum (their creator no longer needs the commit log).
    public var versionsFrozen: UInt64 = 0
    /// Vacuum passes completed (explicit and background).
    public var vacuums: UInt64 = 0
    /// Rows vacuum visited (its dirty sets: rows written since they were last all-frozen), not
    /// every row of the heap.
    public var vacuumRowsScanned: UInt64 = 0
    /// Versions currently in the heap, live and dead.
    public var versionsInHeap: Int = 0
    /// Entries currently in the commit log.
    public var commitLogEntries: Int = 0
    /// The write-ahead log's counters (fsyncs, commits per flush, bytes, time in write/fsync).
    public var wal = WALStatistics()
}

/// What crash recovery found and did when the engine opened.
public struct RecoveryReport: Sendable, Hashable {
    /// Whether a checkpoint was loaded (else replay started from an empty heap).
    public var checkpointLoaded = false
    /// The LSN replay started from.
    public var redoLSN: LSN = 0
    /// WAL records replayed.
    public var recordsReplayed = 0
    /// Transactions whose commit record was replayed.
    public var committedReplayed = 0
    /// Transactions in progress at the crash, now aborted.
    public var abortedInProgress = 0
    /// Prepared transactions restored (they hold their locks and await a decision).
    public var preparedRestored = 0
    /// Bytes of torn or corrupt WAL tail cut off.
    public var truncatedBytes = 0
}

/// What a vacuum pass removed.
public struct VacuumReport: Sendable, Hashable {
    /// Every transaction below this id had finished and no snapshot can see what it replaced.
    public var horizon: TransactionID
    /// Dead versions removed.
    public var versionsRemoved: Int
    /// Commit-log entries dropped (finished transactions no remaining version references).
    public var commitLogEntriesRemoved: Int
    /// Versions frozen (a freezing pass only).
    public var versionsFrozen: Int = 0
    /// Commit-timestamp aliases dropped (their original id fell below the horizon).
    public var aliasesRemoved: Int = 0
    /// Times the pass gave the processor to the committers between two lock holds.
    public var processorYields: Int = 0
}
