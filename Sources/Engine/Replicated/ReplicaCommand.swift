import Distributed
import Storage

/// A transaction across regions, as its participants and its coordinator know it: the
/// coordinator's timestamp (unique: coordinator timestamps are tagged with their region) and the
/// coordinator's region, where its transaction record lives.
struct GlobalTransaction: Sendable, Hashable {
    var id: UInt64
    var coordinator: Int
}

/// A coordinator's decision (the transaction record): commit at `commitTimestamp`, or abort.
struct TransactionRecord: Sendable, Hashable {
    var commit: Bool
    var commitTimestamp: TransactionID
    /// The participants' regions and their local transaction ids (empty for an abort record a
    /// participant's in-doubt check wrote).
    var participants: [Participant]

    struct Participant: Sendable, Hashable {
        var region: Int
        var xid: TransactionID
    }
}

/// What a region's Raft log carries (the replicas' write-ahead log): a committed transaction's write
/// set under its L2 timestamp, a chunk of the initial load, and two-phase commit across regions:
/// a participant's prepared write set, its commit (at the decided commit timestamp) or abort, and
/// a coordinator's decision.
enum ReplicaCommand: Sendable, Equatable {
    /// Transaction `xid` wrote `writes` (whole rows).
    case commit(xid: TransactionID, writes: [ReplicatedWrite])
    /// Transaction `xid` loaded the accounts `keys`, all with `row`.
    case load(xid: TransactionID, keys: Range<AccountID>, row: Row)
    /// Participant transaction `xid` of `global` prepared with `writes`: durable, locks kept.
    case prepare(xid: TransactionID, global: GlobalTransaction, writes: [ReplicatedWrite])
    /// Prepared `xid` commits, its versions stamped with `commitTimestamp` (>= xid: a push).
    case commitPrepared(xid: TransactionID, commitTimestamp: TransactionID)
    /// Prepared `xid` aborts.
    case abortPrepared(xid: TransactionID)
    /// The coordinator's decision for global transaction `id` (the first decision applied wins).
    case decide(id: UInt64, record: TransactionRecord)
    /// The timestamp oracle's persisted bound (home region): no timestamp at or above
    /// `millis << 18` was served.
    case oracleLimit(millis: UInt64)
    /// Several commands in one entry (batch commit: one entry, one fsync per replica), applied in
    /// order.
    indirect case batch([ReplicaCommand])

    private static let commitTag: UInt8 = 1
    private static let loadTag: UInt8 = 2
    private static let prepareTag: UInt8 = 3
    private static let commitPreparedTag: UInt8 = 4
    private static let abortPreparedTag: UInt8 = 5
    private static let decideTag: UInt8 = 6
    private static let oracleLimitTag: UInt8 = 7
    private static let batchTag: UInt8 = 8

    var xid: TransactionID {
        switch self {
        case .commit(let xid, _), .load(let xid, _, _), .prepare(let xid, _, _), .commitPrepared(let xid, _),
            .abortPrepared(let xid):
            xid
        case .decide(let id, _): id
        case .oracleLimit, .batch: 0
        }
    }

    static func appendWrites(_ writes: [ReplicatedWrite], to bytes: inout [UInt8]) {
        bytes.appendLittleEndian(UInt32(writes.count))
        for write in writes {
            bytes.appendLittleEndian(write.key)
            append(write.row, to: &bytes)
        }
    }

    static func readWrites(_ reader: inout ByteReader) -> [ReplicatedWrite]? {
        guard let count = reader.read(UInt32.self) else { return nil }
        var writes: [ReplicatedWrite] = []
        writes.reserveCapacity(Int(min(count, 1 << 16)))
        for _ in 0..<count {
            guard let key = reader.read(UInt64.self), let row = readRow(&reader) else { return nil }
            writes.append(ReplicatedWrite(key: key, row: row))
        }
        return writes
    }

    static func appendRecord(_ record: TransactionRecord, to bytes: inout [UInt8]) {
        bytes.append(record.commit ? 1 : 0)
        bytes.appendLittleEndian(record.commitTimestamp)
        bytes.appendLittleEndian(UInt32(record.participants.count))
        for participant in record.participants {
            bytes.appendLittleEndian(UInt32(participant.region))
            bytes.appendLittleEndian(participant.xid)
        }
    }

    static func readRecord(_ reader: inout ByteReader) -> TransactionRecord? {
        guard let commit = reader.read(UInt8.self), commit <= 1, let timestamp = reader.read(UInt64.self),
            let count = reader.read(UInt32.self), count <= 1 << 16
        else { return nil }
        var participants: [TransactionRecord.Participant] = []
        for _ in 0..<count {
            guard let region = reader.read(UInt32.self), let xid = reader.read(UInt64.self) else { return nil }
            participants.append(TransactionRecord.Participant(region: Int(region), xid: xid))
        }
        return TransactionRecord(commit: commit == 1, commitTimestamp: timestamp, participants: participants)
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .commit(let xid, let writes):
            bytes.reserveCapacity(13 + writes.reduce(0) { $0 + 18 + $1.row.payload.count })
            bytes.append(Self.commitTag)
            bytes.appendLittleEndian(xid)
            Self.appendWrites(writes, to: &bytes)
        case .prepare(let xid, let global, let writes):
            bytes.append(Self.prepareTag)
            bytes.appendLittleEndian(xid)
            bytes.appendLittleEndian(global.id)
            bytes.appendLittleEndian(UInt32(global.coordinator))
            Self.appendWrites(writes, to: &bytes)
        case .commitPrepared(let xid, let commitTimestamp):
            bytes.append(Self.commitPreparedTag)
            bytes.appendLittleEndian(xid)
            bytes.appendLittleEndian(commitTimestamp)
        case .abortPrepared(let xid):
            bytes.append(Self.abortPreparedTag)
            bytes.appendLittleEndian(xid)
        case .decide(let id, let record):
            bytes.append(Self.decideTag)
            bytes.appendLittleEndian(id)
            Self.appendRecord(record, to: &bytes)
        case .oracleLimit(let millis):
            bytes.append(Self.oracleLimitTag)
            bytes.appendLittleEndian(millis)
        case .batch(let commands):
            bytes.append(Self.batchTag)
            bytes.appendLittleEndian(UInt64(commands.count))
            for command in commands {
                let encoded = command.encoded()
                bytes.appendLittleEndian(UInt32(encoded.count))
                bytes.append(contentsOf: encoded)
            }
        case .load(let xid, let keys, let row):
            bytes.append(Self.loadTag)
            bytes.appendLittleEndian(xid)
            bytes.appendLittleEndian(keys.lowerBound)
            bytes.appendLittleEndian(keys.upperBound)
            Self.append(row, to: &bytes)
        }
        return bytes
    }

    /// Decodes an entry's data; nil when it is not a command (a corrupt entry: the log's checksum
    /// makes that an engine defect, reported by the caller).
    static func decode(_ bytes: [UInt8]) -> ReplicaCommand? {
        var reader = ByteReader(bytes, from: 0)
        guard let tag = reader.read(UInt8.self), let xid = reader.read(UInt64.self) else { return nil }
        switch tag {
        case commitTag:
            guard let writes = readWrites(&reader) else { return nil }
            return reader.isAtEnd ? .commit(xid: xid, writes: writes) : nil
        case prepareTag:
            guard let id = reader.read(UInt64.self), let coordinator = reader.read(UInt32.self),
                let writes = readWrites(&reader), reader.isAtEnd
            else { return nil }
            return .prepare(xid: xid, global: GlobalTransaction(id: id, coordinator: Int(coordinator)), writes: writes)
        case commitPreparedTag:
            guard let timestamp = reader.read(UInt64.self), reader.isAtEnd else { return nil }
            return .commitPrepared(xid: xid, commitTimestamp: timestamp)
        case abortPreparedTag:
            return reader.isAtEnd ? .abortPrepared(xid: xid) : nil
        case decideTag:
            guard let record = readRecord(&reader), reader.isAtEnd else { return nil }
            return .decide(id: xid, record: record)
        case oracleLimitTag:
            return reader.isAtEnd ? .oracleLimit(millis: xid) : nil
        case batchTag:
            var commands: [ReplicaCommand] = []
            for _ in 0..<min(xid, 1 << 20) {
                guard let length = reader.read(UInt32.self), let bytes = reader.readBytes(Int(length)),
                    let command = decode(bytes)
                else { return nil }
                commands.append(command)
            }
            return reader.isAtEnd && UInt64(commands.count) == xid ? .batch(commands) : nil
        case loadTag:
            guard let lower = reader.read(UInt64.self), let upper = reader.read(UInt64.self), lower <= upper,
                let row = readRow(&reader), reader.isAtEnd
            else { return nil }
            return .load(xid: xid, keys: lower..<upper, row: row)
        default:
            return nil
        }
    }

    static func append(_ row: Row, to bytes: inout [UInt8]) {
        bytes.appendLittleEndian(row.balance)
        bytes.appendLittleEndian(UInt16(row.payload.count))
        bytes.append(contentsOf: row.payload)
    }

    static func readRow(_ reader: inout ByteReader) -> Row? {
        guard let balance = reader.read(Int64.self), let length = reader.read(UInt16.self),
            let payload = reader.readBytes(Int(length))
        else { return nil }
        return Row(balance: balance, payload: payload)
    }
}

/// A replica's snapshot (Raft's, taken at an applied index): the highest transaction id seen, every
/// committed row with its `xmin`, the transactions prepared and awaiting phase two (with their
/// write sets), and the transaction records of the global transactions the region coordinated.
enum ReplicaSnapshot {
    struct PreparedEntry: Sendable, Hashable {
        var xid: TransactionID
        var global: GlobalTransaction
        var writes: [ReplicatedWrite]
    }

    struct Decoded {
        var rows: [CommittedRow]
        var highestXid: TransactionID
        var prepared: [PreparedEntry]
        var records: [UInt64: TransactionRecord]
        var oracleLimitMillis: UInt64 = 0
    }

    static func encode(
        rows: [CommittedRow], highestXid: TransactionID, prepared: [PreparedEntry] = [],
        records: [UInt64: TransactionRecord] = [:], oracleLimitMillis: UInt64 = 0
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + rows.count * (34 + (rows.first?.row.payload.count ?? 0)))
        bytes.appendLittleEndian(highestXid)
        bytes.appendLittleEndian(UInt64(rows.count))
        for entry in rows {
            bytes.appendLittleEndian(entry.key)
            bytes.appendLittleEndian(entry.xmin)
            ReplicaCommand.append(entry.row, to: &bytes)
        }
        guard !prepared.isEmpty || !records.isEmpty || oracleLimitMillis > 0 else { return bytes }
        bytes.appendLittleEndian(UInt64(prepared.count))
        for entry in prepared {
            bytes.appendLittleEndian(entry.xid)
            bytes.appendLittleEndian(entry.global.id)
            bytes.appendLittleEndian(UInt32(entry.global.coordinator))
            ReplicaCommand.appendWrites(entry.writes, to: &bytes)
        }
        bytes.appendLittleEndian(UInt64(records.count))
        for (id, record) in records.sorted(by: { $0.key < $1.key }) {
            bytes.appendLittleEndian(id)
            ReplicaCommand.appendRecord(record, to: &bytes)
        }
        bytes.appendLittleEndian(oracleLimitMillis)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Decoded? {
        var reader = ByteReader(bytes, from: 0)
        guard let highest = reader.read(UInt64.self), let count = reader.read(UInt64.self) else { return nil }
        var rows: [CommittedRow] = []
        rows.reserveCapacity(Int(min(count, UInt64(bytes.count / 26))))
        for _ in 0..<count {
            guard let key = reader.read(UInt64.self), let xmin = reader.read(UInt64.self),
                let row = ReplicaCommand.readRow(&reader)
            else { return nil }
            rows.append(CommittedRow(key: key, row: row, xmin: xmin))
        }
        var decoded = Decoded(rows: rows, highestXid: highest, prepared: [], records: [:])
        if reader.isAtEnd { return decoded }
        guard let preparedCount = reader.read(UInt64.self) else { return nil }
        for _ in 0..<preparedCount {
            guard let xid = reader.read(UInt64.self), let id = reader.read(UInt64.self),
                let coordinator = reader.read(UInt32.self), let writes = ReplicaCommand.readWrites(&reader)
            else { return nil }
            decoded.prepared.append(
                PreparedEntry(
                    xid: xid, global: GlobalTransaction(id: id, coordinator: Int(coordinator)), writes: writes))
        }
        guard let recordCount = reader.read(UInt64.self) else { return nil }
        for _ in 0..<recordCount {
            guard let id = reader.read(UInt64.self), let record = ReplicaCommand.readRecord(&reader) else {
                return nil
            }
            decoded.records[id] = record
        }
        guard let limit = reader.read(UInt64.self) else { return nil }
        decoded.oracleLimitMillis = limit
        return reader.isAtEnd ? decoded : nil
    }
}
