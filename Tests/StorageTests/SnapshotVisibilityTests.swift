import Testing

@testable import Storage

/// The snapshot every table row is read with: transactions 10, 13, 15 (the owner), 16 and 17
/// were running when it was taken, and the highest id seen then was 19.
private let tableSnapshot = Snapshot(xmin: 10, xmax: 20, inProgress: [10, 13, 15, 16, 17], owner: 15)

/// The state of a version's creator (`xmin`) relative to `tableSnapshot`.
enum CreatorState: String, CaseIterable, Sendable {
    /// The snapshot's owner created it.
    case own
    /// Committed before the snapshot was taken (id 5, below the snapshot's `xmin`).
    case committedBefore
    /// Running when the snapshot was taken (in `inProgress`), committed since (id 13).
    case committedButInProgressAtSnapshot
    /// Began after the snapshot (id 20 = the snapshot's `xmax`), committed since.
    case atOrAboveSnapshotXmax
    /// Still running (id 10 = the snapshot's `xmin`).
    case inProgress
    /// Aborted (id 8).
    case aborted

    var xid: TransactionID {
        switch self {
        case .own: 15
        case .committedBefore: 5
        case .committedButInProgressAtSnapshot: 13
        case .atOrAboveSnapshotXmax: 20
        case .inProgress: 10
        case .aborted: 8
        }
    }

    var status: TransactionStatus {
        switch self {
        case .own, .inProgress: .inProgress
        case .committedBefore, .committedButInProgressAtSnapshot, .atOrAboveSnapshotXmax: .committed
        case .aborted: .aborted
        }
    }
}

/// The state of a version's replacer (`xmax`) relative to `tableSnapshot`.
enum ReplacerState: String, CaseIterable, Sendable {
    /// Not replaced (`xmax` = 0).
    case none
    /// The snapshot's owner replaced it.
    case own
    /// Committed before the snapshot (id 11: between `xmin` and `xmax`, not in `inProgress`).
    case committedBefore
    /// Running when the snapshot was taken (id 16), committed since.
    case committedButInProgressAtSnapshot
    /// Began after the snapshot (id 25), committed since.
    case atOrAboveSnapshotXmax
    /// Still running (id 17).
    case inProgress
    /// Aborted (id 12).
    case aborted

    var xid: TransactionID {
        switch self {
        case .none: 0
        case .own: 15
        case .committedBefore: 11
        case .committedButInProgressAtSnapshot: 16
        case .atOrAboveSnapshotXmax: 25
        case .inProgress: 17
        case .aborted: 12
        }
    }

    var status: TransactionStatus {
        switch self {
        case .none, .own, .inProgress: .inProgress
        case .committedBefore, .committedButInProgressAtSnapshot, .atOrAboveSnapshotXmax: .committed
        case .aborted: .aborted
        }
    }
}

/// One row of the visibility table.
struct VisibilityCase: Sendable, CustomTestStringConvertible {
    var xmin: CreatorState
    var xmax: ReplacerState
    var visible: Bool

    init(_ xmin: CreatorState, _ xmax: ReplacerState, _ visible: Bool) {
        self.xmin = xmin
        self.xmax = xmax
        self.visible = visible
    }

    var testDescription: String {
        "xmin \(xmin.rawValue), xmax \(xmax.rawValue) -> \(visible ? "visible" : "invisible")"
    }
}

/// The visibility rule, written out: a version is visible iff its creator is the owner or
/// committed before the snapshot, and its replacer is neither the owner nor committed before it.
let visibilityTable: [VisibilityCase] = [
    .init(.own, .none, true),
    .init(.own, .own, false),
    .init(.own, .committedBefore, false),
    .init(.own, .committedButInProgressAtSnapshot, true),
    .init(.own, .atOrAboveSnapshotXmax, true),
    .init(.own, .inProgress, true),
    .init(.own, .aborted, true),

    .init(.committedBefore, .none, true),
    .init(.committedBefore, .own, false),
    .init(.committedBefore, .committedBefore, false),
    .init(.committedBefore, .committedButInProgressAtSnapshot, true),
    .init(.committedBefore, .atOrAboveSnapshotXmax, true),
    .init(.committedBefore, .inProgress, true),
    .init(.committedBefore, .aborted, true),

    .init(.committedButInProgressAtSnapshot, .none, false),
    .init(.committedButInProgressAtSnapshot, .own, false),
    .init(.committedButInProgressAtSnapshot, .committedBefore, false),
    .init(.committedButInProgressAtSnapshot, .committedButInProgressAtSnapshot, false),
    .init(.committedButInProgressAtSnapshot, .atOrAboveSnapshotXmax, false),
    .init(.committedButInProgressAtSnapshot, .inProgress, false),
    .init(.committedButInProgressAtSnapshot, .aborted, false),

    .init(.atOrAboveSnapshotXmax, .none, false),
    .init(.atOrAboveSnapshotXmax, .own, false),
    .init(.atOrAboveSnapshotXmax, .committedBefore, false),
    .init(.atOrAboveSnapshotXmax, .committedButInProgressAtSnapshot, false),
    .init(.atOrAboveSnapshotXmax, .atOrAboveSnapshotXmax, false),
    .init(.atOrAboveSnapshotXmax, .inProgress, false),
    .init(.atOrAboveSnapshotXmax, .aborted, false),

    .init(.inProgress, .none, false),
    .init(.inProgress, .own, false),
    .init(.inProgress, .committedBefore, false),
    .init(.inProgress, .committedButInProgressAtSnapshot, false),
    .init(.inProgress, .atOrAboveSnapshotXmax, false),
    .init(.inProgress, .inProgress, false),
    .init(.inProgress, .aborted, false),

    .init(.aborted, .none, false),
    .init(.aborted, .own, false),
    .init(.aborted, .committedBefore, false),
    .init(.aborted, .committedButInProgressAtSnapshot, false),
    .init(.aborted, .atOrAboveSnapshotXmax, false),
    .init(.aborted, .inProgress, false),
    .init(.aborted, .aborted, false),
]

@Suite("Snapshot visibility")
struct SnapshotVisibilityTests {
    @Test("the visibility rule, state by state", arguments: visibilityTable)
    func visibilityRule(_ row: VisibilityCase) {
        let visible = tableSnapshot.isVisible(
            xmin: row.xmin.xid, xminStatus: row.xmin.status, xmax: row.xmax.xid, xmaxStatus: row.xmax.status)
        #expect(visible == row.visible)
    }

    @Test("the table covers every creator x replacer combination exactly once")
    func tableIsComplete() {
        let combinations = visibilityTable.map { "\($0.xmin.rawValue)/\($0.xmax.rawValue)" }
        #expect(Set(combinations).count == combinations.count)
        #expect(combinations.count == CreatorState.allCases.count * ReplacerState.allCases.count)
    }

    @Test("the same rule through the commit log: a version read by TupleVersion and CommitLog")
    func visibilityThroughCommitLog() {
        var commitLog = CommitLog()
        for state in CreatorState.allCases where state.status != .inProgress { commitLog.set(state.xid, state.status) }
        for state in ReplacerState.allCases where state.status != .inProgress { commitLog.set(state.xid, state.status) }
        for row in visibilityTable {
            let version = TupleVersion(xmin: row.xmin.xid, xmax: row.xmax.xid, row: Row(balance: 1))
            #expect(tableSnapshot.isVisible(version, in: commitLog) == row.visible, "\(row.testDescription)")
        }
    }

    @Test("a snapshot lists the running transactions and bounds the visible ids")
    func snapshotContents() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? engine.close() }
            let first = try engine.begin(xid: 100)
            let second = try engine.begin(xid: 105)
            let snapshot = try engine.snapshot(for: second)
            #expect(snapshot.xmin == first)
            #expect(snapshot.xmax == 106)
            #expect(snapshot.inProgress == [first, second])
            #expect(snapshot.owner == second)
        }
    }

    @Test("a transaction never sees another's uncommitted write, and sees its own")
    func uncommittedWritesAreInvisible() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? engine.close() }
            try await engine.commitWrites([1: 100])

            let writer = try engine.begin()
            let writerSnapshot = try engine.snapshot(for: writer)
            try engine.write(1, Row(balance: 200), for: writer, snapshot: writerSnapshot)
            try engine.write(2, Row(balance: 7), for: writer, snapshot: writerSnapshot)
            // Its own writes are visible to it, even through the snapshot taken before them.
            #expect(try engine.read(1, snapshot: writerSnapshot)?.balance == 200)
            #expect(try engine.read(2, snapshot: writerSnapshot)?.balance == 7)

            let reader = try engine.begin()
            let readerSnapshot = try engine.snapshot(for: reader)
            #expect(try engine.read(1, snapshot: readerSnapshot)?.balance == 100)
            #expect(try engine.read(2, snapshot: readerSnapshot) == nil)

            try await engine.commit(writer)
            // Committed after the reader's snapshot: still invisible to it (repeatable read).
            #expect(try engine.read(1, snapshot: readerSnapshot)?.balance == 100)
            #expect(try engine.read(2, snapshot: readerSnapshot) == nil)
            // Read committed: a new snapshot sees the commit.
            let fresh = try engine.snapshot(for: reader)
            #expect(try engine.read(1, snapshot: fresh)?.balance == 200)
            #expect(try engine.read(2, snapshot: fresh)?.balance == 7)
        }
    }

    @Test("a transaction begun after my snapshot stays invisible after it commits")
    func laterTransactionsAreInvisible() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? engine.close() }
            try await engine.commitWrites([1: 100])
            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            let later = try await engine.commitWrites([1: 300, 3: 1])
            #expect(later >= snapshot.xmax)
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 100)
            #expect(try engine.read(3, snapshot: snapshot) == nil)
            #expect(try engine.read(1, snapshot: engine.snapshot(for: reader))?.balance == 300)
        }
    }

    @Test("an aborted write is never visible, to anyone")
    func abortedWritesAreInvisible() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? engine.close() }
            try await engine.commitWrites([1: 100])
            let writer = try engine.begin()
            let writerSnapshot = try engine.snapshot(for: writer)
            try engine.write(1, Row(balance: 999), for: writer, snapshot: writerSnapshot)
            try engine.insert(2, Row(balance: 5), for: writer, snapshot: writerSnapshot)
            try engine.abort(writer)
            #expect(engine.status(of: writer) == .aborted)

            let reader = try engine.begin()
            let snapshot = try engine.snapshot(for: reader)
            #expect(try engine.read(1, snapshot: snapshot)?.balance == 100)
            #expect(try engine.read(2, snapshot: snapshot) == nil)
            #expect(engine.committedBalances() == [1: 100])
        }
    }
}
