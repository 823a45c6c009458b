import Testing

@testable import Storage

/// A bit-at-a-time CRC-32C, the reference the slicing-by-8 implementation is checked against.
private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

/// A WAL record with a short name for the test report.
struct SampleRecord: Sendable, CustomTestStringConvertible {
    var testDescription: String
    var record: WALRecord
}

/// One record of each kind, including the extremes of a write.
let sampleRecords: [SampleRecord] = [
    SampleRecord(testDescription: "write, empty payload", record: .write(xid: 1, key: 2, row: Row(balance: -5))),
    SampleRecord(
        testDescription: "write, small payload",
        record: .write(xid: 42, key: 7, row: Row(balance: 1_000, payload: [1, 2, 3, 4, 5]))),
    SampleRecord(
        testDescription: "write, largest payload and extreme values",
        record: .write(
            xid: .max, key: .max,
            row: Row(balance: .min, payload: [UInt8](repeating: 0xAB, count: Row.maxPayloadBytes)))),
    SampleRecord(testDescription: "commit", record: .commit(xid: 42)),
    SampleRecord(testDescription: "abort", record: .abort(xid: 7)),
    SampleRecord(testDescription: "prepare", record: .prepare(xid: (1_700_000_000_000 << 18) | 3)),
    SampleRecord(testDescription: "lock", record: .lock(xid: 11, key: 12)),
]

private func encoded(_ record: WALRecord) -> [UInt8] {
    var bytes: [UInt8] = []
    record.encode(into: &bytes)
    return bytes
}

private func decode(_ bytes: [UInt8], at offset: Int = 0) -> (WALRecord, Int)? {
    bytes.withUnsafeBytes { WALRecord.decode($0, at: offset) }
}

@Suite("Write-ahead log: CRC-32C and record framing")
struct WriteAheadLogTests {
    @Test("CRC-32C of \"123456789\" is 0xE3069283")
    func crcKnownVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test("CRC-32C matches the bitwise reference at every length and offset, and continues")
    func crcMatchesReference() {
        var generator = SeededGenerator(seed: 0xC4C3_2C)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in 0...data.count where length < 40 || length % 37 == 0 {
            for start in 0..<3 where start + length <= data.count {
                let slice = Array(data[start..<(start + length)])
                #expect(CRC32C.checksum(slice) == referenceCRC32C(slice), "length \(length), start \(start)")
            }
        }
        let split = 123
        let first = Array(data[..<split])
        let rest = Array(data[split...])
        let continued = rest.withUnsafeBytes { CRC32C.checksum($0, continuing: CRC32C.checksum(first)) }
        #expect(continued == CRC32C.checksum(data))
    }

    @Test("a record decodes to itself after encoding", arguments: sampleRecords)
    func roundTrip(_ sample: SampleRecord) {
        let record = sample.record
        // Preceded by another record, to decode at a non-zero offset.
        var bytes = encoded(.commit(xid: 9))
        let start = bytes.count
        record.encode(into: &bytes)
        let decoded = decode(bytes, at: start)
        #expect(decoded?.0 == record)
        #expect(decoded?.1 == bytes.count)
        #expect(decode(bytes)?.0 == .commit(xid: 9))
        #expect(decode(bytes)?.1 == start)
    }

    @Test("a flipped byte anywhere in a record is rejected", arguments: sampleRecords)
    func flippedByteIsRejected(_ sample: SampleRecord) {
        let bytes = encoded(sample.record)
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var corrupt = bytes
                corrupt[index] ^= flip
                #expect(decode(corrupt) == nil, "byte \(index) xor \(flip) of \(bytes.count) accepted")
            }
        }
    }

    @Test("an incomplete record is rejected at every length", arguments: sampleRecords)
    func truncatedRecordIsRejected(_ sample: SampleRecord) {
        let bytes = encoded(sample.record)
        for length in 0..<bytes.count {
            #expect(decode(Array(bytes.prefix(length))) == nil, "accepted \(length) of \(bytes.count) bytes")
        }
    }

    @Test("a body with a valid checksum but an unknown kind or a bad length is rejected")
    func badBodiesAreRejected() {
        func frame(_ body: [UInt8]) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendLittleEndian(UInt32(body.count))
            bytes.appendLittleEndian(CRC32C.checksum(body))
            return bytes + body
        }
        var unknownKind: [UInt8] = [9]
        unknownKind.appendLittleEndian(UInt64(1))
        #expect(decode(frame(unknownKind)) == nil)
        var commitWithExtra: [UInt8] = [2]
        commitWithExtra.appendLittleEndian(UInt64(1))
        commitWithExtra.append(0)
        #expect(decode(frame(commitWithExtra)) == nil)
        #expect(decode(frame([2, 1, 0, 0])) == nil)
        #expect(decode(frame([UInt8](repeating: 1, count: WALRecord.maxBodyBytes + 1))) == nil)
    }

    @Test("a commit's write and commit records reach the segment file, framed")
    func recordsReachTheSegment() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            let xid = try await engine.commitWrites([3: 30])
            let segments = WriteAheadLog.segments(in: directory)
            #expect(segments.map(\.start) == [0])
            let records = try segmentRecords(segments[0].path).map(\.record)
            #expect(records == [.write(xid: xid, key: 3, row: Row(balance: 30)), .commit(xid: xid)])
            #expect(try fileBytes(segments[0].path).count == records.map { encoded($0).count }.reduce(0, +))
            let statistics = engine.statistics().wal
            #expect(statistics.fsyncs >= 1)
            #expect(statistics.commitsFlushed == 1)
            try engine.close()
        }
    }
}
