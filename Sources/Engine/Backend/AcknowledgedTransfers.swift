import Storage

/// The transfers a run saw acknowledged: (request id, committing xid) pairs, stored flat.
///
/// The workload driver does not hold these while a run goes: it appends them to a file in the
/// variant's data directory and reads them back into this form for the durability audit (so they
/// are no part of the run's memory growth).
///
/// A run acknowledges millions of transfers, so this is kept compact: 16-byte pairs in
/// contiguous chunks of at most ``chunkCapacity`` pairs. A chunk grows as an array does until it
/// is full, then the next one is allocated at full size, so the slack is at most one chunk (or
/// the small first chunk's growth) per part, and merging parts (one per client) moves chunks
/// without copying a pair. Measured with glibc's allocator statistics, 16 clients of 6,250 to
/// 625,000 acknowledged transfers each: 16.1 to 21 bytes per acknowledged transfer held, and no
/// more at the merge; the `[UInt64: TransactionID]` dictionaries this replaces held 27 to 43 and
/// needed 54 to 85 while the clients' dictionaries were merged into one. Request ids are unique
/// within a run, so no lookup is needed: the audit walks the pairs once.
public struct AcknowledgedTransfers: Sendable, Sequence {
    /// One acknowledged transfer.
    public typealias Element = (id: UInt64, xid: TransactionID)

    /// Pairs per chunk: 64 KiB of storage.
    public static let chunkCapacity = 4096

    /// Every chunk but the last is full.
    private var chunks: [[Element]]

    /// None.
    public init() {
        chunks = []
    }

    /// The pairs of a dictionary, in no particular order.
    public init(_ acknowledged: [UInt64: TransactionID]) {
        self.init()
        for (id, xid) in acknowledged { append(id: id, xid: xid) }
    }

    /// The transfers of several parts (clients) together: their chunks, moved, not copied (the
    /// one merge at the end of a run).
    public init(merging parts: [AcknowledgedTransfers]) {
        chunks = []
        chunks.reserveCapacity(parts.reduce(0) { $0 + $1.chunks.count })
        for part in parts { chunks += part.chunks }
    }

    /// Records that request `id` was acknowledged, committed by `xid`.
    public mutating func append(id: UInt64, xid: TransactionID) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkCapacity {
            var chunk: [Element] = []
            // The first chunk grows from nothing (a client may acknowledge only a few); later
            // ones are allocated full-size once.
            if !chunks.isEmpty { chunk.reserveCapacity(Self.chunkCapacity) }
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append((id, xid))
    }

    /// The number of acknowledged transfers.
    public var count: Int { chunks.reduce(0) { $0 + $1.count } }

    /// Whether none was acknowledged.
    public var isEmpty: Bool { chunks.allSatisfy(\.isEmpty) }

    /// Bytes of storage the pairs hold (their chunks' capacity), for memory measurements.
    public var storageBytes: Int {
        chunks.reduce(0) { $0 + $1.capacity } * MemoryLayout<Element>.stride
            + chunks.capacity * MemoryLayout<[Element]>.stride
    }

    public func makeIterator() -> FlattenSequence<[[Element]]>.Iterator {
        chunks.joined().makeIterator()
    }
}
