import Storage
import Synchronization

/// Serializable snapshot isolation (Cahill's SSI, as PostgreSQL's `predicate.c` in its
/// conservative form): tracks rw-antidependencies between concurrent transactions and fails a
/// transaction that would become a pivot (an incoming and an outgoing rw-antidependency), the
/// structure every write-skew cycle under snapshot isolation contains.
///
/// An edge `R -> W` exists when `R` read a row that a concurrent `W` wrote (in either order).
/// Two transactions are concurrent unless one finished committing (its commit visible) before
/// the other began. A transaction that is committing counts as concurrent with everyone (it may
/// not be visible to snapshots taken meanwhile), and as committed for the pivot rule (it can no
/// longer be aborted, so the other side of a new edge is the victim).
final class SerializableConflictTracker: Sendable {
    private struct Entry {
        enum Phase { case active, committing, committed }
        var phase = Phase.active
        var beginSeq: UInt64
        var commitSeq: UInt64 = .max
        var inConflict = false
        var outConflict = false
        var reads: [AccountID] = []
        var writes: [AccountID] = []
    }

    private struct State {
        var entries: [TransactionID: Entry] = [:]
        var readers: [AccountID: [TransactionID]] = [:]
        var writers: [AccountID: [TransactionID]] = [:]
        var sequence: UInt64 = 0
        var finishedSinceCleanup = 0
        var failures: UInt64 = 0
    }

    /// Committed entries are kept until no concurrent transaction remains; a cleanup pass runs
    /// after this many finishes (bounding both its cost and the memory held).
    static let cleanupInterval = 256

    private let state = Mutex(State())

    func register(_ xid: TransactionID) {
        state.withLock { s in s.entries[xid] = Entry(beginSeq: s.sequence) }
    }

    func onRead(_ xid: TransactionID, _ key: AccountID) throws(TransactionError) {
        try state.withLock { s throws(TransactionError) in
            guard s.entries[xid] != nil else { return }
            if s.entries[xid]?.reads.last != key {
                s.entries[xid]?.reads.append(key)
                s.readers[key, default: []].append(xid)
            }
            for writer in s.writers[key] ?? [] where writer != xid && concurrent(xid, writer, s) {
                try addEdge(from: xid, to: writer, actor: xid, key: key, &s)
            }
        }
    }

    func onWrite(_ xid: TransactionID, _ key: AccountID) throws(TransactionError) {
        try state.withLock { s throws(TransactionError) in
            guard s.entries[xid] != nil else { return }
            if s.entries[xid]?.writes.last != key {
                s.entries[xid]?.writes.append(key)
                s.writers[key, default: []].append(xid)
            }
            for reader in s.readers[key] ?? [] where reader != xid && concurrent(reader, xid, s) {
                try addEdge(from: reader, to: xid, actor: xid, key: key, &s)
            }
        }
    }

    /// Called before the commit record is written: fails a pivot, else marks it committing.
    func preCommit(_ xid: TransactionID) throws(TransactionError) {
        try state.withLock { s throws(TransactionError) in
            guard let entry = s.entries[xid] else { return }
            if entry.inConflict && entry.outConflict {
                s.failures += 1
                throw TransactionError(
                    .serializationFailure,
                    "could not serialize access due to read/write dependencies among transactions "
                        + "(pivot with an incoming and an outgoing rw-antidependency)", xid: xid)
            }
            s.entries[xid]?.phase = .committing
        }
    }

    /// Called once the commit is durable and visible (`committed`) or the transaction aborted.
    func finish(_ xid: TransactionID, committed: Bool) {
        state.withLock { s in
            guard s.entries[xid] != nil else { return }
            if committed {
                s.sequence += 1
                s.entries[xid]?.phase = .committed
                s.entries[xid]?.commitSeq = s.sequence
            } else {
                remove(xid, &s)
            }
            s.finishedSinceCleanup += 1
            if s.finishedSinceCleanup >= SerializableConflictTracker.cleanupInterval { cleanUp(&s) }
        }
    }

    var serializationFailures: UInt64 { state.withLock { $0.failures } }

    /// Tracked transactions (running and committed-but-still-relevant), for tests of the bound.
    var trackedCount: Int { state.withLock { $0.entries.count } }

    private func concurrent(_ a: TransactionID, _ b: TransactionID, _ s: State) -> Bool {
        guard let first = s.entries[a], let second = s.entries[b] else { return false }
        return !(first.commitSeq <= second.beginSeq) && !(second.commitSeq <= first.beginSeq)
    }

    private func addEdge(
        from reader: TransactionID, to writer: TransactionID, actor: TransactionID, key: AccountID, _ s: inout State
    ) throws(TransactionError) {
        s.entries[reader]?.outConflict = true
        s.entries[writer]?.inConflict = true
        for xid in [reader, writer] {
            guard let entry = s.entries[xid], entry.inConflict, entry.outConflict else { continue }
            // A pivot that can still abort is failed at its commit (or now, if it is the actor);
            // a pivot that already committed cannot, so the actor is the victim.
            if xid == actor || entry.phase != .active {
                s.failures += 1
                throw TransactionError(
                    .serializationFailure,
                    "could not serialize access due to read/write dependencies among transactions "
                        + "(rw-antidependency on row \(key) between \(reader) and \(writer))", xid: actor, key: key)
            }
        }
    }

    private func remove(_ xid: TransactionID, _ s: inout State) {
        guard let entry = s.entries.removeValue(forKey: xid) else { return }
        for key in entry.reads { s.readers[key]?.removeAll { $0 == xid } }
        for key in entry.writes { s.writers[key]?.removeAll { $0 == xid } }
    }

    /// Drops committed transactions no running or committing transaction is concurrent with.
    private func cleanUp(_ s: inout State) {
        s.finishedSinceCleanup = 0
        var oldestRunning = UInt64.max
        for entry in s.entries.values where entry.phase != .committed {
            oldestRunning = min(oldestRunning, entry.beginSeq)
        }
        let obsolete = s.entries.filter { $0.value.phase == .committed && $0.value.commitSeq <= oldestRunning }
        for xid in obsolete.keys { remove(xid, &s) }
        s.readers = s.readers.filter { !$0.value.isEmpty }
        s.writers = s.writers.filter { !$0.value.isEmpty }
    }
}
