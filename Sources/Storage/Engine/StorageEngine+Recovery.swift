import Foundation
import Synchronization

/// Crash recovery: the checkpoint, then WAL replay.
extension StorageEngine {
    /// Rebuilds the state from `directory`. Replay is idempotent: it starts from the checkpoint
    /// each time and applies records with the same function the engine used; a write at or below
    /// its row's LSN is already in the (fuzzy) checkpoint image and is skipped, as PostgreSQL
    /// skips a record at or below its page's LSN. Recovering twice gives the same state.
    static func recover(
        directory: String, fileSystem: any StorageFileSystem
    ) throws(StorageError) -> (State, RecoveryReport, WriteAheadLog.Scan) {
        var report = RecoveryReport()
        var s = State()
        var running: [TransactionID: (prepared: Bool, keys: [AccountID], wroteBulk: Bool)] = [:]
        let checkpointPath = directory + "/" + checkpointFile
        if FileManager.default.fileExists(atPath: checkpointPath) {
            let (loaded, redo, transactions) = try decodeCheckpoint(
                FileIO.readAll(checkpointPath), path: checkpointPath)
            s = loaded
            report.checkpointLoaded = true
            report.redoLSN = redo
            for txn in transactions { running[txn.xid] = (txn.prepared, txn.keys, false) }
        }
        let scan = try WriteAheadLog.scan(directory: directory, from: report.redoLSN, fileSystem: fileSystem)
        report.truncatedBytes = scan.truncatedBytes
        for (lsn, record) in scan.records {
            report.recordsReplayed += 1
            let xid = record.xid
            s.highestXid = max(s.highestXid, xid)
            switch record {
            case .write(_, let key, let row):
                if lsn > s.heap[key]?.lsn ?? 0 { applyWrite(xid: xid, key: key, row: row, lsn: lsn, state: &s) }
                running[xid, default: (false, [], false)].keys.append(key)
            case .bulkLoad(_, let firstKey, let count, let row):
                s.heap.reserveCapacity(adding: Int(count))
                for key in firstKey..<(firstKey + AccountID(count)) {
                    guard let chain = s.heap[key] else {
                        // The common case (no image of the row): the insert the load made.
                        s.heap[key] = VersionChain(versions: [TupleVersion(xmin: xid, xmax: 0, row: row)], lsn: lsn)
                        s.statistics.versionsWritten += 1
                        continue
                    }
                    if lsn > chain.lsn { applyWrite(xid: xid, key: key, row: row, lsn: lsn, state: &s) }
                }
                running[xid, default: (false, [], false)].wroteBulk = true
            case .commit:
                s.commitLog.set(xid, .committed)
                running[xid] = nil
                report.committedReplayed += 1
            case .abort:
                s.commitLog.set(xid, .aborted)
                running[xid] = nil
            case .prepare:
                s.commitLog.set(xid, .prepared)
                running[xid, default: (false, [], false)].prepared = true
            case .lock(_, let key):
                running[xid, default: (false, [], false)].keys.append(key)
            }
        }
        for (xid, txn) in running {
            if txn.prepared {
                var restored = ActiveTransaction(snapshotXmin: xid)
                restored.phase = .prepared
                restored.wroteWAL = true
                for key in txn.keys where s.rowLocks[key] == nil {
                    s.rowLocks[key] = xid
                    restored.lockedKeys.append(key)
                }
                s.active[xid] = restored
                report.preparedRestored += 1
            } else {
                s.commitLog.set(xid, .aborted)
                report.abortedInProgress += 1
            }
        }
        return (s, report, scan)
    }
}
