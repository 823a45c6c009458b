import Foundation
import Synchronization
import Testing

@testable import Storage

/// The shared seeded generator (SplitMix64), under this suite's name for it.
typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool {
        Int.random(in: 0..<100, using: &self) < percent
    }
}

/// Runs `body` with a fresh directory under `NSTemporaryDirectory()`, removed when it returns.
func withTemporaryDirectory<R>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (String) async throws -> R
) async throws -> R {
    let path = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("layerbench-storage-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Copies a whole engine directory (to recover the same on-disk state several ways).
func copyDirectory(_ source: String, to destination: String) throws {
    try FileManager.default.copyItem(atPath: source, toPath: destination)
}

extension StorageEngine {
    /// The committed balance of every row, as the checks compare it with a model.
    func committedBalances() -> [AccountID: Int64] {
        Dictionary(uniqueKeysWithValues: committedRows().map { ($0.key, $0.row.balance) })
    }

    /// Begins a transaction, writes `balances` under a snapshot and commits it.
    @discardableResult
    func commitWrites(_ balances: [AccountID: Int64]) async throws -> TransactionID {
        let xid = try begin()
        let snapshot = try self.snapshot(for: xid)
        for (key, balance) in balances.sorted(by: { $0.key < $1.key }) {
            try write(key, Row(balance: balance), for: xid, snapshot: snapshot)
        }
        try await commit(xid)
        return xid
    }

    /// Rows whose chain holds two versions created by the same transaction (a transaction
    /// creates at most one version of a row; a replay that applied a record twice breaks this).
    var rowsWithDuplicateVersions: [AccountID] {
        heapVersions.filter { Set($0.value.map(\.xmin)).count != $0.value.count }.keys.sorted()
    }

    /// Every version of every row, straight from the heap (for vacuum and recovery checks).
    var heapVersions: [AccountID: [TupleVersion]] {
        state.withLock { s in Dictionary(uniqueKeysWithValues: s.heap.rows.map { ($0.key, $0.value.versions) }) }
    }
}

/// One framed record of a WAL segment file, where it starts and how long it is.
struct SegmentRecord {
    var offset: Int
    var length: Int
    var record: WALRecord
}

/// Decodes every valid record of a segment file from its start.
func segmentRecords(_ path: String) throws -> [SegmentRecord] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var records: [SegmentRecord] = []
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while let (record, next) = WALRecord.decode(raw, at: offset) {
            records.append(SegmentRecord(offset: offset, length: next - offset, record: record))
            offset = next
        }
    }
    return records
}

/// Reads a file's bytes.
func fileBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Replaces a file's bytes.
func writeFileBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Runs the body of a property and records what it throws as an issue. `propertyCheck`
/// (swift-property-based 2.0) runs its body under `try?`, so an error thrown there would pass
/// the check silently.
func failOnThrow(_ context: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void)
    async
{
    do { try await body() } catch { Issue.record(error, "\(context)", sourceLocation: sourceLocation) }
}
