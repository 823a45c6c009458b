import Foundation
import Testing

@testable import Storage

#if canImport(Glibc)
    import Glibc
#endif

/// Where a fault hits, and whether it must poison the engine.
struct FaultCase: Sendable, CustomTestStringConvertible {
    enum Site: String, Sendable {
        /// The group-commit flush of a committer's records.
        case flush
        /// A checkpoint: the WAL segment switch at its redo point, its file, its rename, the
        /// removal of old segments.
        case checkpoint
        /// `close`, flushing what is buffered.
        case close
    }

    var site: Site
    var operation: FaultInjectingFileSystem.Operation
    var fault: FaultInjectingFileSystem.Fault
    var pathContains: String
    var skip = 0
    /// A failed write or sync (of the WAL, a checkpoint or the directory) poisons; a failed
    /// open, rename or remove of a checkpoint's file fails only that checkpoint.
    var poisons: Bool
    /// The WAL flush itself failed: `durableLSN` must not move at all.
    var walFlushFails = false

    var testDescription: String {
        "\(fault.rawValue) in \(operation.rawValue) of '\(pathContains)' (skip \(skip)) at \(site.rawValue)"
    }

    static let all: [FaultCase] =
        [FaultInjectingFileSystem.Fault.eio, .enospc, .shortWrite].flatMap { fault in
            [
                FaultCase(
                    site: .flush, operation: .write, fault: fault, pathContains: "wal-", poisons: true,
                    walFlushFails: true),
                FaultCase(
                    site: .flush, operation: .dataSync, fault: fault, pathContains: "wal-", poisons: true,
                    walFlushFails: true),
                // The checkpoint's WAL flush: the bytes before the redo point, then the new segment.
                FaultCase(
                    site: .checkpoint, operation: .write, fault: fault, pathContains: "wal-", poisons: true,
                    walFlushFails: true),
                FaultCase(
                    site: .checkpoint, operation: .dataSync, fault: fault, pathContains: "wal-", poisons: true,
                    walFlushFails: true),
                FaultCase(
                    site: .checkpoint, operation: .write, fault: fault, pathContains: "checkpoint.tmp", poisons: true),
                FaultCase(
                    site: .checkpoint, operation: .dataSync, fault: fault, pathContains: "checkpoint.tmp",
                    poisons: true),
                FaultCase(site: .close, operation: .write, fault: fault, pathContains: "wal-", poisons: true),
                FaultCase(site: .close, operation: .dataSync, fault: fault, pathContains: "wal-", poisons: true),
            ]
        } + [
            // Creating the new segment, and the directory syncs: after the switch (skip 0), after
            // the rename (skip 1), after removing old segments (skip 2).
            FaultCase(
                site: .checkpoint, operation: .open, fault: .eio, pathContains: "wal-", poisons: true,
                walFlushFails: true),
            FaultCase(site: .checkpoint, operation: .syncDirectory, fault: .eio, pathContains: "", poisons: true),
            FaultCase(
                site: .checkpoint, operation: .syncDirectory, fault: .eio, pathContains: "", skip: 1, poisons: true),
            FaultCase(
                site: .checkpoint, operation: .syncDirectory, fault: .eio, pathContains: "", skip: 2, poisons: true),
            FaultCase(site: .checkpoint, operation: .open, fault: .enospc, pathContains: "checkpoint", poisons: false),
            FaultCase(site: .checkpoint, operation: .rename, fault: .eio, pathContains: "checkpoint", poisons: false),
            FaultCase(site: .checkpoint, operation: .remove, fault: .eio, pathContains: "wal-", poisons: false),
        ]
}

@Suite("Fail-stop I/O")
struct FailStopTests {
    @Test(
        "a failed write or fsync on any path fails every waiting and later commit, and loses nothing acknowledged",
        .timeLimit(.minutes(1)), arguments: FaultCase.all)
    func faultAtEverySite(_ fault: FaultCase) async throws {
        try await withTemporaryDirectory { directory in
            let fileSystem = FaultInjectingFileSystem()
            let options = StorageOptions(
                durability: .fsync, checkpointWALBytes: 0, vacuumCommitLogEntries: 0, fileSystem: fileSystem)
            let engine = try StorageEngine(directory: directory, options: options)
            var acknowledged: [AccountID: Int64] = [:]
            for key in 1...5 as ClosedRange<AccountID> {
                try await engine.commitWrites([key: Int64(key) * 10])
                acknowledged[key] = Int64(key) * 10
            }
            // A checkpoint first, so that old segments exist to remove at the next one.
            try engine.checkpoint()
            try await engine.commitWrites([6: 60])
            acknowledged[6] = 60
            // A transaction whose write is buffered (not yet flushed) when the fault hits.
            let waiting = try engine.begin()
            try engine.write(100, Row(balance: 100), for: waiting, snapshot: nil)
            var attempted: [AccountID: Int64] = [100: 100]
            let durableBefore = engine.wal.durableLSN
            fileSystem.inject(fault.fault, into: fault.operation, pathContains: fault.pathContains, after: fault.skip)

            switch fault.site {
            case .flush:
                // Several committers wait for the flush that fails: every one of them fails.
                let outcomes = await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        do throws(StorageError) {
                            try await engine.commit(waiting)
                            return true
                        } catch { return false }
                    }
                    for index in 0..<4 {
                        group.addTask {
                            do {
                                try await engine.commitWrites([200 + AccountID(index): 1])
                                return true
                            } catch { return false }
                        }
                    }
                    return await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                for index in 0..<4 { attempted[200 + AccountID(index)] = 1 }
                #expect(outcomes.count == 5)
                #expect(outcomes.allSatisfy { !$0 }, "a commit was acknowledged past a failed flush: \(outcomes)")
            case .checkpoint:
                #expect(throws: StorageError.self) { try engine.checkpoint() }
                if fault.poisons {
                    await #expect(throws: StorageError.self) { try await engine.commit(waiting) }
                } else {
                    try await engine.commit(waiting)
                    acknowledged[100] = 100
                }
            case .close:
                #expect(throws: StorageError.self) { try engine.close() }
            }
            #expect(fileSystem.injectedCount == 1)

            if fault.poisons {
                if fault.site != .close {
                    let failure = try #require(engine.failure, "the engine is not poisoned")
                    guard case .io = failure else {
                        Issue.record("poisoned with \(failure), not the I/O error")
                        return
                    }
                    // No fsync is ever retried, and every later commit fails with the error.
                    let syncs = fileSystem.calls(.dataSync)
                    for key in 300..<303 as Range<AccountID> {
                        attempted[key] = 1
                        await #expect(throws: StorageError.self) { try await engine.commitWrites([key: 1]) }
                    }
                    #expect(fileSystem.calls(.dataSync) == syncs)
                    #expect(throws: StorageError.self) { try engine.checkpoint() }
                }
                if fault.walFlushFails {
                    #expect(engine.wal.durableLSN == durableBefore, "durableLSN moved past a failed flush")
                }
            } else {
                #expect(engine.failure == nil)
                try await engine.commitWrites([7: 70])
                acknowledged[7] = 70
            }
            engine.crash()

            // Reopened on a healthy disk, recovery keeps every acknowledged commit; a commit that
            // failed may or may not be there (in doubt), never with another value.
            let recovered = try StorageEngine(directory: directory)
            let balances = recovered.committedBalances()
            for (key, balance) in acknowledged {
                #expect(balances[key] == balance, "acknowledged row \(key) lost or changed")
            }
            for (key, balance) in balances where acknowledged[key] == nil {
                #expect(attempted[key] == balance, "row \(key) = \(balance) was never written")
            }
            try await recovered.commitWrites([400: 1])
            try recovered.close()
        }
    }

    @Test("a background checkpoint whose write fails poisons the engine; the commit that asked for it stands")
    func backgroundCheckpointFailure() async throws {
        try await withTemporaryDirectory { directory in
            let fileSystem = FaultInjectingFileSystem()
            let options = StorageOptions(checkpointWALBytes: 1, vacuumCommitLogEntries: 0, fileSystem: fileSystem)
            let engine = try StorageEngine(directory: directory, options: options)
            fileSystem.inject(.enospc, into: .write, pathContains: "checkpoint.tmp")
            try await engine.commitWrites([1: 10])
            engine.waitForMaintenance()
            #expect(engine.statistics().checkpointFailures == 1)
            #expect(engine.failure != nil)
            await #expect(throws: StorageError.self) { try await engine.commitWrites([2: 20]) }
            engine.crash()
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.committedBalances()[1] == 10)
            #expect(recovered.committedBalances()[2] == nil)
            try recovered.close()
        }
    }

    @Test("a failed truncate of a torn tail during recovery fails the open; a healthy reopen loses nothing")
    func recoveryTruncateFailure() async throws {
        try await withTemporaryDirectory { directory in
            let engine = try StorageEngine(directory: directory)
            try await engine.commitWrites([1: 10])
            try engine.close()
            let segment = try #require(WriteAheadLog.segments(in: directory).last)
            try writeFileBytes(try fileBytes(segment.path) + [1, 2, 3], to: segment.path)
            let fileSystem = FaultInjectingFileSystem()
            fileSystem.inject(.eio, into: .truncate)
            #expect(throws: StorageError.self) {
                try StorageEngine(directory: directory, options: StorageOptions(fileSystem: fileSystem))
            }
            let recovered = try StorageEngine(directory: directory)
            #expect(recovered.recovery.truncatedBytes == 3)
            #expect(recovered.committedBalances() == [1: 10])
            try recovered.close()
        }
    }

    /// The issue's reproduction, with no seam: the WAL's descriptor pointed at `/dev/full`
    /// while a checkpoint flushes a running transaction's records, then pointed back.
    @Test("ENOSPC from /dev/full during a checkpoint: the transaction whose records it lost can never commit")
    func devFullDuringCheckpoint() async throws {
        #if canImport(Glibc)
            try await withTemporaryDirectory { directory in
                let engine = try StorageEngine(directory: directory, options: StorageOptions(checkpointWALBytes: 0))
                try await engine.commitWrites([1: 10])
                let running = try engine.begin()
                try engine.write(2, Row(balance: 20), for: running, snapshot: nil)
                let descriptor = try #require(Self.openDescriptor(under: directory + "/wal-"))
                let saved = dup(descriptor)
                let full = open("/dev/full", O_WRONLY)
                #expect(saved >= 0 && full >= 0)
                #expect(dup2(full, descriptor) == descriptor)
                #expect(throws: StorageError.self) { try engine.checkpoint() }
                #expect(dup2(saved, descriptor) == descriptor)
                close(saved)
                close(full)
                // Acknowledging it now would lose its write after a crash (the checkpoint's
                // flush lost it): it must fail, as must every later commit.
                await #expect(throws: StorageError.self) { try await engine.commit(running) }
                await #expect(throws: StorageError.self) { try await engine.commitWrites([3: 30]) }
                engine.crash()
                let recovered = try StorageEngine(directory: directory)
                #expect(recovered.committedBalances() == [1: 10])
                try recovered.close()
            }
        #endif
    }

    /// The descriptor of this process open on a path starting with `prefix`.
    static func openDescriptor(under prefix: String) -> Int32? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for name in names {
            guard let fd = Int32(name),
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")
            else { continue }
            if target.hasPrefix(prefix) { return fd }
        }
        return nil
    }
}
