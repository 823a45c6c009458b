import Foundation
import Storage

/// The storage benchmark's other modes: checkpoint stalls, bulk load and memory per row.
extension StorageBenchmark {
    /// The same transfer run on two engines loaded alike: without checkpoints, then with
    /// automatic checkpoints every `checkpointWALBytes` of WAL (run by the maintenance thread
    /// while the committers go on); prints p99.9 and the worst latency of each.
    static func checkpointStall(
        directory: String, committers: Int, seconds: Double, accounts: Int, durability: Durability, seed: UInt64,
        checkpointWALBytes: UInt64
    ) async throws {
        let payload = [UInt8](repeating: 7, count: 32)
        let clock = SystemClock.shared
        var results: [(String, StorageBenchmarkResult, UInt64)] = []
        for (name, walBytes) in [("no checkpoint", 0 as UInt64), ("checkpoints", checkpointWALBytes)] {
            let options = StorageOptions(durability: durability, checkpointWALBytes: walBytes)
            let engine = try StorageEngine(directory: directory + "/\(walBytes)", options: options)
            let loadStart = clock.nowNanos()
            try await engine.bulkLoad(keys: 0..<UInt64(accounts), row: Row(balance: 1_000, payload: payload))
            let loadSeconds = Double(clock.nanosSince(loadStart)) / 1e9
            print("\(name): loaded \(accounts) accounts in \(String(format: "%.2f", loadSeconds)) s")
            let result = try await drive(
                engine, committers: committers, seconds: seconds, accounts: accounts, payload: payload, seed: seed)
            results.append((name, result, engine.statistics().checkpoints))
            try engine.close()
        }
        print(
            "accounts \(accounts), \(committers) committers, \(seconds) s each, durability \(durability.rawValue), "
                + "checkpoint every \(checkpointWALBytes >> 20) MiB of WAL")
        print("run              |    TPS | p50 ms | p99 ms | p99.9 ms | max ms | max / p99.9 | checkpoints")
        for (name, result, checkpoints) in results {
            print(
                [
                    name.padding(toLength: 16, withPad: " ", startingAt: 0), String(Int(result.tps)).padded(6),
                    String(format: "%.3f", result.p50Millis).padded(6),
                    String(format: "%.3f", result.p99Millis).padded(6),
                    String(format: "%.3f", result.p999Millis).padded(8),
                    String(format: "%.2f", result.maxMillis).padded(6),
                    String(format: "%.1fx", result.maxMillis / max(result.p999Millis, 0.001)).padded(11),
                    String(checkpoints).padded(11),
                ].joined(separator: " | "))
        }
    }

    /// Times the bulk load of `accounts` rows and a reopen (recovery) of them.
    static func load(directory: String, accounts: Int, durability: Durability) async throws {
        let clock = SystemClock.shared
        let before = Jemalloc.stats()?.allocated ?? 0
        let engine = try StorageEngine(directory: directory + "/load", options: StorageOptions(durability: durability))
        let payload = [UInt8](repeating: 0, count: 32)
        let start = clock.nowNanos()
        var loaded = 0
        while loaded < accounts {
            let end = min(accounts, loaded + (1 << 18))
            try await engine.bulkLoad(keys: UInt64(loaded)..<UInt64(end), row: Row(balance: 1_000, payload: payload))
            loaded = end
        }
        let elapsed = Double(clock.nanosSince(start)) / 1e9
        let bytes = (Jemalloc.stats()?.allocated ?? 0) - before
        print(
            "loaded \(accounts) accounts in \(String(format: "%.2f", elapsed)) s "
                + "(\(Int(Double(accounts) / elapsed)) rows/s, \(bytes / max(accounts, 1)) bytes per account allocated)"
        )
        let checkpointStart = clock.nowNanos()
        try engine.checkpoint()
        print("checkpoint of them: \(String(format: "%.2f", Double(clock.nanosSince(checkpointStart)) / 1e9)) s")
        try engine.close()
        let reopenStart = clock.nowNanos()
        let reopened = try StorageEngine(
            directory: directory + "/load", options: StorageOptions(durability: durability))
        print(
            "recovery (checkpoint load): \(String(format: "%.2f", Double(clock.nanosSince(reopenStart)) / 1e9)) s, "
                + "\(reopened.statistics().versionsInHeap) versions")
        try reopened.close()
    }

    /// Bytes per account (bulk loaded, then updated) and bytes retained per committed transfer
    /// with a ledger row, after background vacuum has frozen and truncated.
    /// A ledger row's payload holds the two account ids (16 bytes) padded with zeros to
    /// `ledgerPayloadBytes`, as a run pads its rows to the spec's `payload_bytes`.
    static func memory(
        directory: String, accounts: Int, transfers: Int, seed: UInt64, ledgerPayloadBytes: Int = 16
    ) async throws {
        let options = StorageOptions(durability: .none, checkpointWALBytes: 0)
        let engine = try StorageEngine(directory: directory + "/memory", options: options)
        let payload = [UInt8](repeating: 7, count: 32)
        let empty = Jemalloc.stats()?.allocated ?? 0
        try await engine.bulkLoad(keys: 0..<UInt64(accounts), row: Row(balance: 1_000, payload: payload))
        let loaded = Jemalloc.stats()?.allocated ?? 0
        var random = SplitMix64(seed: seed)
        let ledgerBase: AccountID = 1 << 62
        var samples: [(Int, Int, Int, Int)] = []
        var baseline = 0
        let half = transfers / 2
        for index in 0..<transfers {
            let from = random.next() % UInt64(accounts)
            var to = random.next() % UInt64(accounts - 1)
            if to >= from { to += 1 }
            let xid = try engine.begin()
            let snapshot = try engine.snapshot(for: xid)
            guard let source = try engine.read(from, snapshot: snapshot),
                let target = try engine.read(to, snapshot: snapshot)
            else { throw StorageError.notActive(xid, status: "missing account") }
            try engine.write(from, Row(balance: source.balance - 1, payload: payload), for: xid, snapshot: snapshot)
            try engine.write(to, Row(balance: target.balance + 1, payload: payload), for: xid, snapshot: snapshot)
            var ledger: [UInt8] = []
            withUnsafeBytes(of: from.littleEndian) { ledger.append(contentsOf: $0) }
            withUnsafeBytes(of: to.littleEndian) { ledger.append(contentsOf: $0) }
            ledger.append(contentsOf: repeatElement(0, count: max(0, ledgerPayloadBytes - ledger.count)))
            try engine.write(ledgerBase + UInt64(index), Row(balance: 1, payload: ledger), for: xid, snapshot: snapshot)
            try await engine.commit(xid)
            if index + 1 == half {
                engine.waitForMaintenance()
                engine.vacuum(freeze: true)
                baseline = Jemalloc.stats()?.allocated ?? 0
            }
            if (index + 1) % max(transfers / 8, 1) == 0 {
                let statistics = engine.statistics()
                samples.append(
                    (
                        index + 1, statistics.commitLogEntries, statistics.versionsInHeap,
                        Jemalloc.stats()?.allocated ?? 0
                    ))
            }
        }
        engine.waitForMaintenance()
        engine.vacuum(freeze: true)
        let end = Jemalloc.stats()?.allocated ?? 0
        let statistics = engine.statistics()
        print("transfers | commit-log entries | heap versions | allocated MiB")
        for (count, entries, versions, allocated) in samples {
            print(
                "\(String(count).padded(9)) | \(String(entries).padded(18)) | \(String(versions).padded(13)) | \(allocated >> 20)"
            )
        }
        print("bulk-loaded account (32-byte payload shared by the load): \((loaded - empty) / accounts) bytes")
        print("ledger row payload: \(max(16, ledgerPayloadBytes)) bytes")
        print(
            "retained per committed transfer over the second half (after vacuum): "
                + "\((end - baseline) / max(transfers - half, 1)) bytes; commit log \(statistics.commitLogEntries) entries, "
                + "\(statistics.versionsFrozen) versions frozen, \(statistics.vacuums) vacuums")
        try engine.close()
    }
}
