import Engine
import Foundation
import Results
import Runtime
import Storage
import Synchronization
import Testing
import WorkloadSpec

@testable import Workload

/// Commits every transfer at once (as the null backend, xid = request id) and, every
/// `sampleEvery` transfers, notes how many acknowledgements the driver's file in the variant's
/// data directory already holds; the audit keeps the expectation the driver handed it.
final class SpillWatchingBackend: Backend {
    let name = "spill-watch"
    let file: String
    let sampleEvery: Int
    private let calls = Atomic<Int>(0)
    /// (transfers committed before this call, acknowledgements in the file).
    let samples = Mutex<[(committed: Int, onDisk: Int)]>([])
    let audited = Mutex<[(id: UInt64, xid: TransactionID)]?>(nil)

    init(file: String, sampleEvery: Int) {
        self.file = file
        self.sampleEvery = sampleEvery
    }

    func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int {
        count
    }

    func transfer(_ request: TransferRequest) async -> TransferResult {
        let before = calls.add(1, ordering: .relaxed).oldValue
        if before > 0, before % sampleEvery == 0 {
            var status = stat()
            let bytes = stat(file, &status) == 0 ? Int(status.st_size) : 0
            samples.withLock { $0.append((before, bytes / 16)) }
        }
        return TransferResult(.committed, endToEndNanos: 0, xid: request.id)
    }

    var committed: Int { calls.load(ordering: .relaxed) }

    func counters() -> BackendCounters { BackendCounters() }
    func gauges() -> [String: Double] { [:] }
    func audit(_ expectation: AuditExpectation) async throws -> AuditReport {
        audited.withLock { $0 = Array(expectation.acknowledged) }
        return try await NullBackend().audit(expectation)
    }
    func shutdown() async throws {}
}

@Suite("The driver's record of acknowledged transfers")
struct AcknowledgementSpillTests {
    @Test(
        "acknowledgements go to the variant's data directory as the run goes: at most a buffer per client stays in memory, and the audit gets every one back",
        arguments: [false, true])
    func spilledDuringTheRun(openLoop: Bool) async throws {
        let clients = 4
        let transfers = 12_000
        let spec = driverSpec {
            $0.load = openLoop ? .openLoop(rate: 1_000_000, maxInFlight: 64) : .closedLoop(clients: [clients])
            $0.length = .transactions(transfers)
        }
        let directory = NSTemporaryDirectory() + "layerbench-spill-tests-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: directory))
        let variant = try #require(spec.variants.first)
        let backends = Mutex<[SpillWatchingBackend]>([])
        let result = try await driver.run(variant: variant, index: 1, of: 1) { configuration in
            let backend = SpillWatchingBackend(
                file: WorkloadDriver.acknowledgedTransfersPath(variantDirectory: configuration.dataDirectory, shard: 0),
                sampleEvery: 500)
            backends.withLock { $0.append(backend) }
            return backend
        }
        let backend = try #require(backends.withLock { $0.first })
        #expect(result.checksPassed)
        let samples = backend.samples.withLock { $0 }
        #expect(samples.count >= transfers / 500 - 1)
        // Writers buffering at most `bufferPairs` each (clients, or open-loop slots), plus the
        // transfers acknowledged but not yet handed to a writer (in flight).
        let writers = openLoop ? WorkloadDriver.openLoopSlotsPerRegion : clients
        let inFlight = openLoop ? 64 : clients
        for sample in samples {
            #expect(
                sample.onDisk >= sample.committed - writers * AcknowledgementSpill.bufferPairs - inFlight,
                "\(sample.committed) committed, \(sample.onDisk) in the file")
        }
        // Exact: the audit got every committed transfer once, with its xid.
        let audited = try #require(backend.audited.withLock { $0 })
        #expect(audited.count == backend.committed)
        var seen = Set<UInt64>()
        for pair in audited {
            #expect(seen.insert(pair.id).inserted, "id \(pair.id) twice")
            #expect(pair.xid == pair.id)
        }
    }

    @Test("every pair appended by every writer comes back once, around the buffer's boundary")
    func roundTrip() throws {
        let directory = NSTemporaryDirectory() + "layerbench-spill-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spill = try AcknowledgementSpill(path: directory + "/acks")
        let buffer = AcknowledgementSpill.bufferPairs
        var expected: [UInt64: TransactionID] = [:]
        for (writerIndex, count) in [0, 1, buffer - 1, buffer, buffer + 1, 3 * buffer + 5, 70_000].enumerated() {
            var writer = AcknowledgementSpill.Writer(spill)
            for sequence in 0..<count {
                let id = (UInt64(writerIndex) << 40) | UInt64(sequence + 1)
                writer.append(id: id, xid: id &* 31 &+ 7)
                expected[id] = id &* 31 &+ 7
                #expect(writer.buffered < buffer)
            }
            writer.flush()
            #expect(writer.buffered == 0)
        }
        #expect(spill.count == expected.count)
        let back = try spill.readAll()
        #expect(back.count == expected.count)
        var seen: [UInt64: TransactionID] = [:]
        for (id, xid) in back {
            #expect(seen[id] == nil, "id \(id) twice")
            seen[id] = xid
        }
        #expect(seen == expected)
    }
}
