/// A write-ahead log record.
///
/// Framing (little endian): `length: UInt32` (of the body), `crc: UInt32` (CRC-32C of the body),
/// then the body: `kind: UInt8`, `xid: UInt64`, and for `write` the key, balance, payload length
/// (`UInt16`) and payload, for `lock` the key. A record is valid iff the whole frame is present and the CRC matches;
/// recovery stops at the first invalid one (a torn or corrupt tail) and truncates there.
enum WALRecord: Sendable, Hashable {
    /// `xid` wrote a new version of `key` (an insert, or an update that sets the old `xmax`).
    case write(xid: TransactionID, key: AccountID, row: Row)
    /// `xid` committed; acknowledged only once this record is durable.
    case commit(xid: TransactionID)
    /// `xid` aborted. Never waited for: a lost abort record means "in progress at the crash",
    /// which recovery aborts anyway.
    case abort(xid: TransactionID)
    /// `xid` is prepared for two-phase commit: durable before the vote is sent.
    case prepare(xid: TransactionID)
    /// `xid`, about to prepare, holds the write lock of `key` without having written it
    /// (SELECT ... FOR UPDATE): recovery restores the lock with the prepared transaction.
    case lock(xid: TransactionID, key: AccountID)
    /// `xid` inserted `count` rows with consecutive keys from `firstKey`, all with the value
    /// `row` (a bulk load: one record per chunk instead of one per row).
    case bulkLoad(xid: TransactionID, firstKey: AccountID, count: UInt32, row: Row)

    static let headerBytes = 8
    /// Bound on a body: a write with the largest payload.
    static let maxBodyBytes = 1 + 8 + 8 + 4 + 8 + 2 + Row.maxPayloadBytes

    private enum Kind: UInt8 {
        case write = 1
        case commit = 2
        case abort = 3
        case prepare = 4
        case lock = 5
        case bulkLoad = 6
    }

    var xid: TransactionID {
        switch self {
        case .write(let xid, _, _), .commit(let xid), .abort(let xid), .prepare(let xid), .lock(let xid, _),
            .bulkLoad(let xid, _, _, _):
            xid
        }
    }

    /// Appends the framed record to `buffer`.
    func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
        switch self {
        case .write(let xid, let key, let row):
            buffer.append(Kind.write.rawValue)
            buffer.appendLittleEndian(xid)
            buffer.appendLittleEndian(key)
            buffer.appendLittleEndian(UInt64(bitPattern: row.balance))
            buffer.appendLittleEndian(UInt16(row.payload.count))
            buffer.append(contentsOf: row.payload)
        case .commit(let xid):
            buffer.append(Kind.commit.rawValue)
            buffer.appendLittleEndian(xid)
        case .abort(let xid):
            buffer.append(Kind.abort.rawValue)
            buffer.appendLittleEndian(xid)
        case .prepare(let xid):
            buffer.append(Kind.prepare.rawValue)
            buffer.appendLittleEndian(xid)
        case .lock(let xid, let key):
            buffer.append(Kind.lock.rawValue)
            buffer.appendLittleEndian(xid)
            buffer.appendLittleEndian(key)
        case .bulkLoad(let xid, let firstKey, let count, let row):
            buffer.append(Kind.bulkLoad.rawValue)
            buffer.appendLittleEndian(xid)
            buffer.appendLittleEndian(firstKey)
            buffer.appendLittleEndian(count)
            buffer.appendLittleEndian(UInt64(bitPattern: row.balance))
            buffer.appendLittleEndian(UInt16(row.payload.count))
            buffer.append(contentsOf: row.payload)
        }
        let bodyStart = start + WALRecord.headerBytes
        let length = UInt32(buffer.count - bodyStart)
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[bodyStart...])) }
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// Decodes the record at `offset`; nil if the frame is incomplete, too long, fails its CRC,
    /// or has an unknown kind. Returns the record and the offset just past it.
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (WALRecord, Int)? {
        guard bytes.count - offset >= headerBytes else { return nil }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let crc = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let bodyStart = offset + headerBytes
        guard length >= 9, length <= maxBodyBytes, bytes.count - bodyStart >= length else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<(bodyStart + length)])
        guard CRC32C.checksum(body) == crc else { return nil }
        var reader = ByteReader(body)
        guard let kindByte = reader.readByte(), let kind = Kind(rawValue: kindByte), let xid = reader.read(UInt64.self)
        else { return nil }
        let record: WALRecord
        switch kind {
        case .write:
            guard let key = reader.read(UInt64.self), let balance = reader.read(UInt64.self),
                let payloadLength = reader.read(UInt16.self), let payload = reader.readBytes(Int(payloadLength)),
                reader.isAtEnd
            else { return nil }
            record = .write(xid: xid, key: key, row: Row(balance: Int64(bitPattern: balance), payload: payload))
        case .lock:
            guard let key = reader.read(UInt64.self), reader.isAtEnd else { return nil }
            record = .lock(xid: xid, key: key)
        case .bulkLoad:
            guard let firstKey = reader.read(UInt64.self), let count = reader.read(UInt32.self),
                let balance = reader.read(UInt64.self), let payloadLength = reader.read(UInt16.self),
                let payload = reader.readBytes(Int(payloadLength)), reader.isAtEnd
            else { return nil }
            record = .bulkLoad(
                xid: xid, firstKey: firstKey, count: count,
                row: Row(balance: Int64(bitPattern: balance), payload: payload))
        case .commit, .abort, .prepare:
            guard reader.isAtEnd else { return nil }
            record = kind == .commit ? .commit(xid: xid) : kind == .abort ? .abort(xid: xid) : .prepare(xid: xid)
        }
        return (record, bodyStart + length)
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Reads little-endian integers from a byte buffer, returning nil past its end.
struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func readByte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard bytes.count - offset >= MemoryLayout<T>.size else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return [UInt8](bytes[offset..<(offset + count)])
    }
}
