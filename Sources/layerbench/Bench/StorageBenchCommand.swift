import ArgumentParser
import Foundation
import Histogram
import Storage

/// `layerbench bench storage`: single-row-pair transfers straight against L0 (read two rows,
/// write two rows, commit) at several committer counts, durability fsync by default.
///
/// Back of the envelope (STYLE.md): a transfer writes two ~45-byte WAL records and a 17-byte
/// commit record, ~110 bytes; one committer is bound by one `fdatasync` per commit (disk
/// latency), N committers share one `fdatasync` per group, so TPS should grow with N until the
/// CPU (two mutex round trips and a few dictionary operations per row, ~2-5 us) or the fsync
/// bandwidth binds. Network: none. Memory: one version per write, pruned on the next write.
///
/// Other modes: `checkpoint-stall` (the worst commit latency while checkpoints run back to back,
/// against the same run without them: a fuzzy checkpoint holds the lock for one heap shard at a
/// time, ~rows/4096, so the stall should be a few ms at 10M rows, not the whole heap's
/// encoding); `load` (bulk load time: ~150 ns per row under the lock, one WAL record per 16 Ki
/// rows, so ~1.5 s per 10M rows of CPU plus allocation); `memory` (jemalloc bytes per account
/// and bytes retained per committed transfer with a ledger row, after background vacuum).
struct StorageBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Benchmark L0: MVCC + WAL group commit with concurrent committers.")

    @Option(help: "Comma-separated committer counts.")
    var committers: String = "1,4,16,64"

    @Option(help: "Seconds to run each committer count.")
    var seconds: Double = 5

    @Option(help: "Accounts in the table.")
    var accounts: Int = 10_000

    @Option(help: "Durability: fsync or none.")
    var durability: String = "fsync"

    @Option(help: "Directory for the engine's files (a fresh subdirectory per run is created in it).")
    var directory: String = NSTemporaryDirectory()

    @Option(help: "Seed of the account choice.")
    var seed: UInt64 = 1

    @Option(help: "What to measure: throughput, checkpoint-stall, load or memory.")
    var mode: String = "throughput"

    @Option(help: "Transfers (each with a ledger row) for --mode memory.")
    var transfers: Int = 200_000

    @Option(
        help: """
            Bytes of each ledger row's payload for --mode memory: 16 (two account ids), or a run's \
            payload_bytes (32 by default), to which a run pads its ledger rows.
            """)
    var ledgerPayloadBytes: Int = 16

    @Option(help: "MiB of WAL between automatic checkpoints for --mode checkpoint-stall.")
    var checkpointMebibytes: UInt64 = 8

    func validate() throws {
        guard Durability(rawValue: durability) != nil else {
            throw ValidationError("--durability must be fsync or none, not '\(durability)'")
        }
        guard (16...1024).contains(ledgerPayloadBytes) else {
            throw ValidationError("--ledger-payload-bytes must be in 16...1024, not \(ledgerPayloadBytes)")
        }
        guard parsedCommitters() != nil else {
            throw ValidationError("--committers must be positive integers separated by commas, not '\(committers)'")
        }
        guard accounts >= 2, seconds > 0 else { throw ValidationError("--accounts must be >= 2 and --seconds > 0") }
        guard ["throughput", "checkpoint-stall", "load", "memory"].contains(mode) else {
            throw ValidationError("--mode must be throughput, checkpoint-stall, load or memory, not '\(mode)'")
        }
    }

    private func parsedCommitters() -> [Int]? {
        let values = committers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return values.compactMap { $0 }
    }

    func run() async throws {
        let counts = parsedCommitters() ?? [1]
        let durabilityMode = Durability(rawValue: durability) ?? .fsync
        let root = directory + "/layerbench-storage-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        switch mode {
        case "checkpoint-stall":
            try await StorageBenchmark.checkpointStall(
                directory: root, committers: counts[0], seconds: seconds, accounts: accounts,
                durability: durabilityMode,
                seed: seed, checkpointWALBytes: checkpointMebibytes << 20)
            return
        case "load":
            try await StorageBenchmark.load(directory: root, accounts: accounts, durability: durabilityMode)
            return
        case "memory":
            try await StorageBenchmark.memory(
                directory: root, accounts: accounts, transfers: transfers, seed: seed,
                ledgerPayloadBytes: ledgerPayloadBytes)
            return
        default: break
        }

        let fsyncRate = try FsyncProbe.measure(directory: root, seconds: 2)
        print("fdatasync reference: \(Int(fsyncRate)) ops/s (8 KiB write + fdatasync, same file system)")
        print("committers |      TPS | commits/fsync | fsyncs | p50 ms | p99 ms | conflicts | vs 1 committer")
        var single: Double?
        for count in counts {
            let result = try await StorageBenchmark.run(
                directory: root + "/c\(count)", committers: count, seconds: seconds, accounts: accounts,
                durability: durabilityMode, seed: seed)
            let speedup = single.map { result.tps / $0 } ?? 1
            if single == nil { single = result.tps }
            print(
                [
                    String(count).padded(10), String(Int(result.tps)).padded(8),
                    String(format: "%.1f", result.commitsPerFsync).padded(13), String(result.fsyncs).padded(6),
                    String(format: "%.3f", result.p50Millis).padded(6),
                    String(format: "%.3f", result.p99Millis).padded(6),
                    String(result.conflicts).padded(9), String(format: "%.1fx", speedup).padded(14),
                ].joined(separator: " | "))
        }
    }
}

/// One measured configuration of the storage benchmark.
struct StorageBenchmarkResult {
    var transfers: Int
    var tps: Double
    var fsyncs: UInt64
    var commitsPerFsync: Double
    var p50Millis: Double
    var p99Millis: Double
    var conflicts: Int
    var p999Millis: Double = 0
    var maxMillis: Double = 0
}

/// Runs transfers against a fresh storage engine.
enum StorageBenchmark {
    static func run(
        directory: String, committers: Int, seconds: Double, accounts: Int, durability: Durability, seed: UInt64
    ) async throws -> StorageBenchmarkResult {
        let engine = try StorageEngine(directory: directory, options: StorageOptions(durability: durability))
        let payload = [UInt8](repeating: 7, count: 32)
        try await engine.bulkLoad(keys: 0..<UInt64(accounts), row: Row(balance: 1_000, payload: payload))
        let outcome = try await drive(
            engine, committers: committers, seconds: seconds, accounts: accounts, payload: payload, seed: seed)
        try engine.close()
        return outcome
    }

    /// Runs `committers` transfer loops against a loaded engine for `seconds`.
    static func drive(
        _ engine: StorageEngine, committers: Int, seconds: Double, accounts: Int, payload: [UInt8], seed: UInt64
    ) async throws -> StorageBenchmarkResult {
        let before = engine.statistics()
        let clock = SystemClock.shared
        let start = clock.nowNanos()
        let deadline = start + UInt64(seconds * 1e9)
        let outcomes = try await withThrowingTaskGroup(of: (Int, Int, Histogram<UInt64>).self) { group in
            for client in 0..<committers {
                group.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(client) &* 0x9E37_79B9)
                    var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
                    var done = 0
                    var conflicts = 0
                    while clock.nowNanos() < deadline {
                        let from = random.next() % UInt64(accounts)
                        var to = random.next() % UInt64(accounts - 1)
                        if to >= from { to += 1 }
                        let began = clock.nowNanos()
                        if try await transfer(engine, from: from, to: to, amount: 1, payload: payload) {
                            histogram.record(clock.nanosSince(began) / 1_000)
                            done += 1
                        } else {
                            conflicts += 1
                        }
                    }
                    return (done, conflicts, histogram)
                }
            }
            var total = (0, 0, Histogram<UInt64>(numberOfSignificantValueDigits: .three))
            for try await (done, conflicts, histogram) in group {
                total.0 += done
                total.1 += conflicts
                total.2.add(histogram)
            }
            return total
        }
        let elapsed = Double(clock.nanosSince(start)) / 1e9
        let after = engine.statistics()
        let fsyncs = after.wal.fsyncs - before.wal.fsyncs
        let flushes = after.wal.commitFlushes - before.wal.commitFlushes
        let flushed = after.wal.commitsFlushed - before.wal.commitsFlushed
        return StorageBenchmarkResult(
            transfers: outcomes.0, tps: Double(outcomes.0) / elapsed, fsyncs: fsyncs,
            commitsPerFsync: flushes == 0 ? 0 : Double(flushed) / Double(flushes),
            p50Millis: Double(outcomes.2.valueAtPercentile(50)) / 1000,
            p99Millis: Double(outcomes.2.valueAtPercentile(99)) / 1000, conflicts: outcomes.1,
            p999Millis: Double(outcomes.2.valueAtPercentile(99.9)) / 1000, maxMillis: Double(outcomes.2.max) / 1000)
    }

    /// One transfer: returns false (after aborting) if a row lock or first-updater-wins refused it.
    static func transfer(
        _ engine: StorageEngine, from: AccountID, to: AccountID, amount: Int64, payload: [UInt8]
    ) async throws -> Bool {
        let xid = try engine.begin()
        do {
            let snapshot = try engine.snapshot(for: xid)
            guard let source = try engine.read(from, snapshot: snapshot),
                let target = try engine.read(to, snapshot: snapshot)
            else { throw StorageError.notActive(xid, status: "missing account") }
            try engine.write(
                from, Row(balance: source.balance - amount, payload: payload), for: xid, snapshot: snapshot)
            try engine.write(to, Row(balance: target.balance + amount, payload: payload), for: xid, snapshot: snapshot)
        } catch StorageError.rowLocked, StorageError.concurrentUpdate {
            try engine.abort(xid)
            return false
        }
        try await engine.commit(xid)
        return true
    }
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
