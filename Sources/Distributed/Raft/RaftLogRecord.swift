import Storage

/// One record of a replica's durable Raft log (`RaftLogStore`). On disk a record is framed as
/// `[payload length: u32][CRC-32C of the payload: u32][payload]`, little-endian; the payload starts with a
/// kind byte. A record is the unit of atomicity: a torn write leaves a frame whose length or checksum does
/// not match, and loading stops there.
enum RaftLogRecord: Equatable {
    /// Entries `entries[0].index ...`: they supersede every earlier record's entries at or above
    /// `entries[0].index` (the truncation of a conflicting suffix is this record, not a separate one).
    case entries([RaftEntry])
    case hardState(RaftHardState)
    /// A snapshot received from the leader: it replaces the whole log.
    case snapshot(RaftSnapshot)
    /// The first record of a segment written by a compaction: the state restarts from this snapshot (the
    /// segment's next records carry the hard state and the retained entries); earlier segments are obsolete.
    case base(RaftSnapshot)

    static let headerBytes = 8

    private enum Kind: UInt8 {
        case entries = 1
        case hardState = 2
        case snapshot = 3
        case base = 4
    }

    /// Appends the framed record to `buffer`.
    func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
        switch self {
        case .entries(let entries):
            buffer.append(Kind.entries.rawValue)
            buffer.appendLittleEndian(entries[0].index)
            buffer.appendLittleEndian(UInt32(entries.count))
            for entry in entries {
                buffer.appendLittleEndian(entry.term)
                buffer.appendLittleEndian(UInt32(entry.data.count))
                buffer.append(contentsOf: entry.data)
            }
        case .hardState(let hard):
            buffer.append(Kind.hardState.rawValue)
            buffer.appendLittleEndian(hard.term)
            buffer.appendLittleEndian(hard.vote)
            buffer.appendLittleEndian(hard.commit)
        case .snapshot(let snapshot), .base(let snapshot):
            if case .base = self { buffer.append(Kind.base.rawValue) } else { buffer.append(Kind.snapshot.rawValue) }
            buffer.appendLittleEndian(snapshot.index)
            buffer.appendLittleEndian(snapshot.term)
            buffer.appendLittleEndian(UInt32(snapshot.data.count))
            buffer.append(contentsOf: snapshot.data)
        }
        let payloadCount = buffer.count - start - Self.headerBytes
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 8)...])) }
        buffer.storeLittleEndian(UInt32(payloadCount), at: start)
        buffer.storeLittleEndian(crc, at: start + 4)
    }

    /// What reading a frame at an offset found.
    enum Frame: Equatable {
        case record(RaftLogRecord, next: Int)
        /// The frame is incomplete or its checksum fails: a torn write (or damage) starts here.
        case torn
        /// The checksum holds but the payload does not decode: damage no torn write explains.
        case malformed(String)
    }

    /// Reads the frame at `offset` of `bytes` (`offset < bytes.count`).
    static func decode(_ bytes: [UInt8], at offset: Int) -> Frame {
        guard bytes.count - offset >= headerBytes else { return .torn }
        var header = ByteReader(bytes, from: offset)
        guard let length = header.read(UInt32.self), let crc = header.read(UInt32.self) else { return .torn }
        let payloadStart = offset + headerBytes
        guard bytes.count - payloadStart >= Int(length) else { return .torn }
        let payloadEnd = payloadStart + Int(length)
        let actual = bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[payloadStart..<payloadEnd]))
        }
        guard actual == crc else { return .torn }
        var reader = ByteReader(bytes, from: payloadStart, to: payloadEnd)
        guard let record = decodePayload(&reader) else { return .malformed("record at offset \(offset)") }
        guard reader.isAtEnd else { return .malformed("trailing bytes in the record at offset \(offset)") }
        return .record(record, next: payloadEnd)
    }

    private static func decodePayload(_ reader: inout ByteReader) -> RaftLogRecord? {
        guard let rawKind = reader.read(UInt8.self), let kind = Kind(rawValue: rawKind) else { return nil }
        switch kind {
        case .entries:
            guard let first = reader.read(UInt64.self), let count = reader.read(UInt32.self), count > 0 else {
                return nil
            }
            var entries: [RaftEntry] = []
            entries.reserveCapacity(Int(count))
            for offset in 0..<UInt64(count) {
                guard let term = reader.read(UInt64.self), let length = reader.read(UInt32.self),
                    let data = reader.readBytes(Int(length))
                else { return nil }
                entries.append(RaftEntry(term: term, index: first + offset, data: data))
            }
            return .entries(entries)
        case .hardState:
            guard let term = reader.read(UInt64.self), let vote = reader.read(UInt64.self),
                let commit = reader.read(UInt64.self)
            else { return nil }
            return .hardState(RaftHardState(term: term, vote: vote, commit: commit))
        case .snapshot, .base:
            guard let index = reader.read(UInt64.self), let term = reader.read(UInt64.self),
                let length = reader.read(UInt32.self), let data = reader.readBytes(Int(length))
            else { return nil }
            let snapshot = RaftSnapshot(index: index, term: term, data: data)
            return kind == .base ? .base(snapshot) : .snapshot(snapshot)
        }
    }
}

/// Little-endian reads from a byte range; every read returns nil past the end.
package struct ByteReader {
    private let bytes: [UInt8]
    private var position: Int
    private let end: Int

    package init(_ bytes: [UInt8], from start: Int, to end: Int? = nil) {
        self.bytes = bytes
        position = start
        self.end = end ?? bytes.count
    }

    package var isAtEnd: Bool { position == end }

    /// The little-endian `T` at the reading position, or nil when fewer bytes remain.
    package mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? { fixed(T.self) }

    // Concrete overloads of `read` (preferred over the generic one by overload resolution): the
    // engine's decoder, in another module, called the generic one unspecialised (a generic
    // metadata lookup and a witness call per byte shift: about 15 % of a 3-replica run's CPU).

    /// The little-endian `UInt64` at the reading position, or nil when fewer bytes remain.
    package mutating func read(_: UInt64.Type) -> UInt64? { fixed(UInt64.self) }
    /// The little-endian `Int64` at the reading position, or nil when fewer bytes remain.
    package mutating func read(_: Int64.Type) -> Int64? { fixed(Int64.self) }
    /// The little-endian `UInt32` at the reading position, or nil when fewer bytes remain.
    package mutating func read(_: UInt32.Type) -> UInt32? { fixed(UInt32.self) }
    /// The little-endian `UInt16` at the reading position, or nil when fewer bytes remain.
    package mutating func read(_: UInt16.Type) -> UInt16? { fixed(UInt16.self) }
    /// The byte at the reading position, or nil at the end.
    package mutating func read(_: UInt8.Type) -> UInt8? { fixed(UInt8.self) }

    /// `read`, specialised in this module for each concrete overload.
    @inline(__always)
    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard end - position >= size else { return nil }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: T.self) }
        position += size
        return T(littleEndian: value)
    }

    package mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, end - position >= count else { return nil }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
}

extension [UInt8] {
    @inlinable
    package mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func storeLittleEndian(_ value: UInt32, at offset: Int) {
        for k in 0..<4 { self[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
    }
}
