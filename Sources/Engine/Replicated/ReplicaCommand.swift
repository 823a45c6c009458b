import Distributed
import Storage

/// What a region's Raft log carries (the replicas' write-ahead log): a committed transaction's write
/// set under its L2 timestamp, or a chunk of the initial load.
enum ReplicaCommand: Sendable, Equatable {
    /// Transaction `xid` wrote `writes` (whole rows).
    case commit(xid: TransactionID, writes: [ReplicatedWrite])
    /// Transaction `xid` loaded the accounts `keys`, all with `row`.
    case load(xid: TransactionID, keys: Range<AccountID>, row: Row)

    private static let commitTag: UInt8 = 1
    private static let loadTag: UInt8 = 2

    var xid: TransactionID {
        switch self {
        case .commit(let xid, _), .load(let xid, _, _): xid
        }
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .commit(let xid, let writes):
            bytes.reserveCapacity(13 + writes.reduce(0) { $0 + 18 + $1.row.payload.count })
            bytes.append(Self.commitTag)
            bytes.appendLittleEndian(xid)
            bytes.appendLittleEndian(UInt32(writes.count))
            for write in writes {
                bytes.appendLittleEndian(write.key)
                Self.append(write.row, to: &bytes)
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
            guard let count = reader.read(UInt32.self) else { return nil }
            var writes: [ReplicatedWrite] = []
            writes.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let key = reader.read(UInt64.self), let row = readRow(&reader) else { return nil }
                writes.append(ReplicatedWrite(key: key, row: row))
            }
            return reader.isAtEnd ? .commit(xid: xid, writes: writes) : nil
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

/// A replica's snapshot (Raft's, taken at an applied index): the highest transaction id seen and
/// every committed row with its `xmin`.
enum ReplicaSnapshot {
    static func encode(rows: [CommittedRow], highestXid: TransactionID) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + rows.count * (34 + (rows.first?.row.payload.count ?? 0)))
        bytes.appendLittleEndian(highestXid)
        bytes.appendLittleEndian(UInt64(rows.count))
        for entry in rows {
            bytes.appendLittleEndian(entry.key)
            bytes.appendLittleEndian(entry.xmin)
            ReplicaCommand.append(entry.row, to: &bytes)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> (rows: [CommittedRow], highestXid: TransactionID)? {
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
        return reader.isAtEnd ? (rows, highest) : nil
    }
}
