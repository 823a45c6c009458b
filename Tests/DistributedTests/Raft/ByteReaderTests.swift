import PropertyBased
import Testing

@testable import Distributed

/// The little-endian reader the engine decodes replicated commands with: it reads back exactly
/// what `appendLittleEndian` wrote, at any alignment, and answers nil (moving nothing) when fewer
/// bytes remain than the value needs.
@Suite("ByteReader")
struct ByteReaderTests {
    @Test("property: reads back every width written, at any offset, and stops at the end")
    func roundTrip() async {
        await propertyCheck(
            input: Gen.uint8(in: 0...7).array(of: 0...5), Gen.uint64().array(of: 5...5),
            Gen.int64().array(of: 5...5), Gen.uint32().array(of: 5...5)
        ) { prefix, wide, signed, narrow in
            var bytes = prefix
            for index in 0..<5 {
                bytes.appendLittleEndian(wide[index])
                bytes.appendLittleEndian(signed[index])
                bytes.appendLittleEndian(narrow[index])
                bytes.appendLittleEndian(UInt16(truncatingIfNeeded: wide[index]))
                bytes.append(UInt8(truncatingIfNeeded: narrow[index]))
            }
            var reader = ByteReader(bytes, from: prefix.count)
            for index in 0..<5 {
                #expect(reader.read(UInt64.self) == wide[index])
                #expect(reader.read(Int64.self) == signed[index])
                #expect(reader.read(UInt32.self) == narrow[index])
                #expect(reader.read(UInt16.self) == UInt16(truncatingIfNeeded: wide[index]))
                #expect(reader.read(UInt8.self) == UInt8(truncatingIfNeeded: narrow[index]))
            }
            #expect(reader.isAtEnd)
            #expect(reader.read(UInt8.self) == nil)
        }
    }

    @Test("a value longer than what remains is nil and the position stays")
    func shortRead() {
        var reader = ByteReader([1, 2, 3, 4, 5, 6, 7, 8, 9], from: 2)
        #expect(reader.read(UInt64.self) == nil)
        #expect(reader.read(UInt32.self) == 0x0605_0403)
        #expect(reader.read(UInt32.self) == nil)
        #expect(reader.read(UInt16.self) == 0x0807)
        #expect(reader.read(UInt16.self) == nil)
        #expect(reader.read(UInt8.self) == 9)
        #expect(reader.isAtEnd)
        // A reader bounded before the end of its bytes stops at its bound.
        var bounded = ByteReader([1, 2, 3, 4, 5, 6, 7, 8, 9], from: 0, to: 4)
        #expect(bounded.read(UInt64.self) == nil)
        #expect(bounded.read(UInt32.self) == 0x0403_0201)
        #expect(bounded.isAtEnd)
    }
}
