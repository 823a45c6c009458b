import Engine
import Storage
import Testing

@Suite("Acknowledged transfers")
struct AcknowledgedTransfersTests {
    @Test("every pair appended by every client comes back exactly once after the merge")
    func mergeKeepsEveryPair() {
        var parts: [AcknowledgedTransfers] = []
        var expected: [UInt64: TransactionID] = [:]
        for client in 0..<7 {
            var part = AcknowledgedTransfers()
            // Sizes around the chunk boundary, and an empty client.
            let count = [
                0, 1, AcknowledgedTransfers.chunkCapacity - 1, AcknowledgedTransfers.chunkCapacity,
                AcknowledgedTransfers.chunkCapacity + 1, 3 * AcknowledgedTransfers.chunkCapacity + 5, 17,
            ][client]
            for sequence in 0..<count {
                let id = (UInt64(client) << 40) | UInt64(sequence + 1)
                part.append(id: id, xid: id &* 31)
                expected[id] = id &* 31
            }
            #expect(part.count == count)
            parts.append(part)
        }
        let merged = AcknowledgedTransfers(merging: parts)
        #expect(merged.count == expected.count)
        var seen: [UInt64: TransactionID] = [:]
        for (id, xid) in merged {
            #expect(seen[id] == nil, "id \(id) twice")
            seen[id] = xid
        }
        #expect(seen == expected)
        #expect(AcknowledgedTransfers(expected).count == expected.count)
        #expect(AcknowledgedTransfers().isEmpty)
    }

    @Test("storage stays near 16 bytes per acknowledged transfer: at most two chunks of slack per client")
    func compact() {
        let clients = 16
        let perClient = 20_000
        var parts: [AcknowledgedTransfers] = []
        for client in 0..<clients {
            var part = AcknowledgedTransfers()
            for sequence in 0..<perClient { part.append(id: UInt64(client << 40 | sequence), xid: UInt64(sequence)) }
            parts.append(part)
        }
        let merged = AcknowledgedTransfers(merging: parts)
        let pairBytes = MemoryLayout<AcknowledgedTransfers.Element>.stride
        #expect(pairBytes == 16)
        // The first chunk grows as an array does (its capacity may pass a chunk's), the last is part full.
        let slack = 2 * clients * AcknowledgedTransfers.chunkCapacity * pairBytes
        #expect(merged.storageBytes <= clients * perClient * pairBytes + slack + 4_096)
        // A dictionary of the same pairs needs at least 16 bytes per bucket at a load of 3/4.
        #expect(Double(merged.storageBytes) / Double(clients * perClient) < 16 / 0.75)
    }
}
