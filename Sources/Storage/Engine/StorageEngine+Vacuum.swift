import Synchronization

/// Vacuum, and read-only views of the whole heap for the harness's checks.
extension StorageEngine {
    /// Removes every version no snapshot can see (created by an aborted transaction, or replaced
    /// by one that committed below the horizon) and drops commit-log entries of finished
    /// transactions that no remaining version references.
    @discardableResult
    public func vacuum() -> VacuumReport {
        state.withLock { s in
            let horizon = StorageEngine.horizon(s)
            var removed = 0
            var referenced = Set<TransactionID>()
            for key in Array(s.heap.keys) {
                removed += StorageEngine.prune(key, horizon: horizon, state: &s)
                for version in s.heap[key] ?? [] {
                    referenced.insert(version.xmin)
                    if version.xmax != 0 { referenced.insert(version.xmax) }
                }
            }
            var dropped = 0
            for (xid, status) in s.commitLog.entries
            where xid < horizon && status != .prepared && s.active[xid] == nil && !referenced.contains(xid) {
                s.commitLog.remove(xid)
                dropped += 1
            }
            s.statistics.versionsVacuumed += UInt64(removed)
            return VacuumReport(horizon: horizon, versionsRemoved: removed, commitLogEntriesRemoved: dropped)
        }
    }

    /// Every row's latest committed version with the id of the transaction that wrote it, in key
    /// order: what conservation, durability and cross-layer identity checks read.
    public func committedRows() -> [CommittedRow] {
        state.withLock { s in
            s.heap.compactMap { key, chain -> CommittedRow? in
                for version in chain.reversed() where s.commitLog.isCommitted(version.xmin) {
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
}
