import Engine

/// The text of what crash recovery did, for the durability check's detail.
enum RecoveryText {
    /// Every node's recovery, by node id, `; `-separated; a backend without state says so.
    static func describe(_ recoveries: [NodeID: NodeRecovery]) -> String {
        guard !recoveries.isEmpty else { return "no state: nothing stored, nothing to recover" }
        return recoveries.sorted { $0.key < $1.key }.map { "\($0.key): \(describe($0.value))" }.joined(
            separator: "; ")
    }

    /// One node's recovery: `checkpoint loaded, 12 WAL records replayed, 3 commits, ...`.
    static func describe(_ recovery: NodeRecovery) -> String {
        "checkpoint \(recovery.checkpointLoaded ? "loaded" : "none"), \(recovery.recordsReplayed) WAL records replayed, "
            + "\(recovery.committedReplayed) commits, \(recovery.abortedInProgress) in-progress aborted, "
            + "\(recovery.preparedRestored) prepared restored, \(recovery.truncatedBytes) torn bytes cut"
    }
}
