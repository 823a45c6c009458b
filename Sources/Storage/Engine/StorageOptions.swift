/// Settings of a storage engine.
public struct StorageOptions: Sendable, Hashable {
    /// How commits are made durable.
    public var durability: Durability
    /// A checkpoint runs automatically once this many bytes of WAL follow the last one
    /// (0 disables automatic checkpoints). Bounds recovery time and WAL disk use.
    public var checkpointWALBytes: UInt64
    /// A write prunes its row's version chain once it is longer than this (PostgreSQL's
    /// heap-only-tuple pruning), so hot rows do not grow unbounded chains between vacuums.
    public var pruneChainLength: Int

    /// Creates options; the defaults are durable (`fsync`) with a checkpoint every 64 MiB of WAL.
    public init(durability: Durability = .fsync, checkpointWALBytes: UInt64 = 64 << 20, pruneChainLength: Int = 8) {
        precondition(pruneChainLength >= 1, "a chain holds at least its live version")
        self.durability = durability
        self.checkpointWALBytes = checkpointWALBytes
        self.pruneChainLength = pruneChainLength
    }
}
