import Engine
import Foundation
import Results
import Storage
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The driver's record of every acknowledged transfer while the run goes: an append-only file in
/// the variant's data directory of (request id, committing xid) pairs, 16 bytes each
/// (little-endian), read back once for the durability audit.
///
/// Held in memory (``AcknowledgedTransfers``), the record grew 16 to 20 bytes per committed
/// transfer for the whole run, next to the ledger row (201 bytes) that should be the run's only
/// growth (issue 7's memory target). Here a writer (a client, an open-loop slot) buffers at most
/// ``bufferPairs`` pairs and appends them with one `write`; writers share the descriptor under a
/// lock held for that call only (never across an `await`). Nothing else is kept per transfer.
///
/// The audit stays exact: ``readAll()`` returns every pair that was appended and checks the
/// file's length against the count; a write that failed (a full disk) makes it throw, naming the
/// file, rather than audit fewer transfers than were acknowledged.
final class AcknowledgementSpill: Sendable {
    /// Pairs a writer buffers before appending them: 4 KiB, one `write` per 256 acknowledgements.
    static let bufferPairs = 256
    /// Bytes of one pair in the file.
    static let pairBytes = 16
    /// Bytes read back per `read` call.
    static let readChunkBytes = 1 << 20

    /// The file.
    let path: String

    private struct State {
        var descriptor: Int32
        /// Pairs appended so far.
        var pairs = 0
        /// The errno of the first failed write (nothing is appended after it).
        var failure: Int32?
    }

    private let state: Mutex<State>

    /// Creates (or truncates) the file at `path`.
    init(path: String) throws(DriverError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Self.error(path, "cannot be created", errno: errno) }
        self.path = path
        state = Mutex(State(descriptor: descriptor))
    }

    deinit {
        state.withLock { s in
            if s.descriptor >= 0 { _ = close(s.descriptor) }
        }
    }

    /// Pairs appended to the file so far (a writer's buffered ones are not, until it flushes).
    var count: Int { state.withLock { $0.pairs } }

    /// One writer's buffer: at most ``AcknowledgementSpill/bufferPairs`` pairs are held before
    /// they go to the file. A writer must be flushed before the file is read back.
    struct Writer: Sendable {
        let spill: AcknowledgementSpill
        private var buffer: [UInt8] = []

        init(_ spill: AcknowledgementSpill) {
            self.spill = spill
        }

        /// Pairs held in this writer's buffer, not yet in the file.
        var buffered: Int { buffer.count / AcknowledgementSpill.pairBytes }

        /// Records that request `id` was acknowledged, committed by `xid`.
        mutating func append(id: UInt64, xid: TransactionID) {
            if buffer.capacity == 0 {
                buffer.reserveCapacity(AcknowledgementSpill.bufferPairs * AcknowledgementSpill.pairBytes)
            }
            withUnsafeBytes(of: id.littleEndian) { buffer.append(contentsOf: $0) }
            withUnsafeBytes(of: xid.littleEndian) { buffer.append(contentsOf: $0) }
            if buffer.count >= AcknowledgementSpill.bufferPairs * AcknowledgementSpill.pairBytes { flush() }
        }

        /// Appends the buffered pairs to the file.
        mutating func flush() {
            guard !buffer.isEmpty else { return }
            spill.append(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Appends whole pairs with one `write` (repeated on a short write).
    private func append(_ bytes: [UInt8]) {
        state.withLock { s in
            guard s.failure == nil else { return }
            let failure = bytes.withUnsafeBytes { raw -> Int32? in
                var offset = 0
                while offset < raw.count, let base = raw.baseAddress {
                    let written = write(s.descriptor, base + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += written
                }
                return nil
            }
            if let failure {
                s.failure = failure
            } else {
                s.pairs += bytes.count / Self.pairBytes
            }
        }
    }

    /// Every pair appended, read back from the file (after every writer flushed). Throws if a
    /// write failed or the file does not hold exactly the pairs appended.
    func readAll() throws(DriverError) -> AcknowledgedTransfers {
        let (pairs, failure) = state.withLock { ($0.pairs, $0.failure) }
        if let failure { throw Self.error(path, "could not be appended to", errno: failure) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Self.error(path, "cannot be read back", errno: errno) }
        defer { _ = close(descriptor) }
        var acknowledged = AcknowledgedTransfers()
        var chunk = [UInt8](repeating: 0, count: Self.readChunkBytes)
        var pending = 0
        var total = 0
        while true {
            let got = chunk.withUnsafeMutableBytes { raw in
                read(descriptor, raw.baseAddress.map { $0 + pending }, raw.count - pending)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw Self.error(path, "cannot be read back", errno: errno)
            }
            if got == 0 { break }
            total += got
            let available = pending + got
            let whole = available / Self.pairBytes * Self.pairBytes
            chunk.withUnsafeBytes { raw in
                var offset = 0
                while offset < whole {
                    let id = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    let xid = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                    acknowledged.append(id: id, xid: xid)
                    offset += Self.pairBytes
                }
            }
            // A pair split across two reads: its first bytes move to the front.
            pending = available - whole
            if pending > 0 {
                for index in 0..<pending { chunk[index] = chunk[whole + index] }
            }
        }
        guard total == pairs * Self.pairBytes else {
            throw DriverError(
                key: "acknowledged transfers",
                "\(path) holds \(total) bytes, but \(pairs) acknowledgements (\(pairs * Self.pairBytes) bytes) were "
                    + "appended: the durability audit cannot be exact")
        }
        return acknowledged
    }

    private static func error(_ path: String, _ what: String, errno code: Int32) -> DriverError {
        DriverError(
            key: "acknowledged transfers",
            "the driver's record of acknowledged transfers \(path) \(what): "
                + FileSystemSupport.describe(errno: code))
    }
}
