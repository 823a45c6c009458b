import Synchronization

/// What the audit asks of storage's locks after recovery: none may be left behind.
extension StorageEngine {
    /// The rows locked now, by any transaction (running or prepared).
    public var rowLocksHeld: Int { state.withLock { $0.rowLocks.count } }
}
