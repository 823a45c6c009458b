import Engine
import Foundation
import Histogram
import Results
import Runtime
import Storage
import Synchronization
import WorkloadSpec

/// Runs a spec's variants against a backend: loads accounts, runs warm-up then the measured
/// phase (closed or open loop), records per-layer latency, samples a time series each second,
/// and finishes each variant with a crash, recovery and audit of the final state.
public struct WorkloadDriver: Sendable {
    /// The spec (after overrides).
    public let spec: WorkloadSpec
    /// How to run.
    public let options: DriverOptions

    /// Creates a driver.
    public init(spec: WorkloadSpec, options: DriverOptions) {
        self.spec = spec
        self.options = options
    }

    /// Refuses, before anything runs or is written, what this build cannot do yet or this machine
    /// cannot hold (`memoryBytes`, the machine's memory by default), naming the key.
    public func checkSupported(memoryBytes: UInt64 = MachineInfo.physicalMemoryBytes()) throws(DriverError) {
        try checkFeatures()
        try checkResources(memoryBytes: memoryBytes)
    }

    /// Refuses what this build cannot do yet (L2 features, other backends), naming the key.
    ///
    /// Embedded regions are Raft groups with two-phase commit across them, so every transfer
    /// class and the locality switch run there. The postgres backend runs every transfer class
    /// (multi-region ones by two-phase commit from the home region's coordinator) but not the
    /// locality axis; and one region has nothing for a cross-region or global transfer to cross.
    public func checkFeatures() throws(DriverError) {
        let crosses = spec.mix.crossRegion > 0 || spec.mix.global > 0
        if crosses && spec.regions.count < 2 {
            throw DriverError(
                key: "mix",
                "cross_region and global transfers need at least two regions, and this spec declares one "
                    + "('\(spec.regions.first?.name ?? "")'): nothing to cross; set them to 0 or declare more regions")
        }
        if spec.backend == .postgres && spec.optimisations.locality.contains(true) {
            throw DriverError(
                key: "optimisations.locality",
                "the postgres backend has no locality switch yet (single-region transfers commit in one phase, "
                    + "multi-region ones are coordinated from the home region); set false (or use backend: embedded)")
        }
        if !spec.faults.isEmpty {
            throw DriverError(key: "faults", "fault injection arrives with its own issue; remove the schedule for now")
        }
        if options.shard.count < 1 || options.shard.index < 0 || options.shard.index >= options.shard.count {
            throw DriverError(key: "--shard", "shard \(options.shard.index + 1)/\(options.shard.count) is out of range")
        }
        _ = try keyChooser()
    }

    /// The chooser of accounts region by region: each region's contiguous range of accounts, the
    /// spec's distribution within it.
    ///
    /// - Throws: ``DriverError`` naming `accounts` when a region homes fewer than 2 accounts.
    func keyChooser() throws(DriverError) -> RegionKeyChooser {
        try RegionKeyChooser(
            distribution: spec.distribution, accounts: spec.accounts, regions: spec.regions.map(\.name))
    }

    /// Refuses a run that would measure nothing in this shard, or whose accounts cannot fit in
    /// `memoryBytes` (see ``WorkloadSpec/estimatedMemoryBytes``), naming the key.
    public func checkResources(memoryBytes: UInt64 = MachineInfo.physicalMemoryBytes()) throws(DriverError) {
        if case .closedLoop(let clients) = spec.load, let fewest = clients.min(), shareOf(fewest) == 0 {
            throw DriverError(
                key: "--shard",
                "shard \(options.shard.index + 1)/\(options.shard.count) gets none of \(fewest) client(s), so it "
                    + "would measure nothing; use at most \(fewest) shards")
        }
        if case .transactions(let total) = spec.length, shareOf(total) == 0 {
            throw DriverError(
                key: "--shard",
                "shard \(options.shard.index + 1)/\(options.shard.count) gets none of \(total) transaction(s), so it "
                    + "would measure nothing; use at most \(total) shards")
        }
        let needed = spec.estimatedMemoryBytes
        // The postgres backend keeps its accounts in the servers, not in this process.
        if memoryBytes > 0, needed > memoryBytes, spec.backend == .embedded {
            throw DriverError(
                key: "accounts",
                "\(spec.accounts) accounts of \(spec.payloadBytes)-byte payloads need about "
                    + "\(Self.gibibytes(needed)) of memory (\(WorkloadSpec.residentBytesPerAccount) + "
                    + "\(WorkloadSpec.payloadCopies) x \(spec.payloadBytes) bytes per account and replica), more than "
                    + "this machine's "
                    + "\(Self.gibibytes(memoryBytes)); lower accounts or payload_bytes")
        }
    }

    /// Bytes as GiB with one decimal, `8.0 GiB`.
    static func gibibytes(_ bytes: UInt64) -> String {
        let value = Double(bytes) / Double(1 << 30)
        let tenths = (value * 10).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10) GiB"
    }

    /// The simulated network of the spec, by region index (the order the spec declares them).
    public var engineNetwork: EngineConfiguration.Network {
        let names = spec.regions.map(\.name)
        return EngineConfiguration.Network(
            intraRegionRTT: spec.network.intraRegionRTT, jitter: spec.network.jitter,
            interRegionRTT: names.map { a in
                names.map { b in a == b ? .zero : spec.network.rtt(between: a, and: b) }
            })
    }

    /// The engine configuration of one variant: the spec's regions and network, its seed and
    /// timestamp source, and the variant's locality, replication mode (`async_replication`) and
    /// batch commit.
    public func engineConfiguration(for variant: Variant, directory: String) -> EngineConfiguration {
        var configuration = EngineConfiguration(
            regions: spec.regions.map { EngineConfiguration.Region(name: $0.name, replicas: $0.replicas) },
            network: engineNetwork, replication: variant.asyncReplication ? .async : .sync, seed: spec.seed,
            dataDirectory: directory,
            durability: spec.durability == .fsync ? .fsync : .none,
            isolation: {
                switch spec.isolation {
                case .readCommitted: .readCommitted
                case .repeatableRead: .repeatableRead
                case .serializable: .serializable
                }
            }(),
            runtime: RuntimeOptions(
                lockTimeout: spec.lockTimeout,
                retry: RetryPolicy(
                    maxAttempts: spec.retry.maxAttempts, baseBackoff: spec.retry.baseBackoff,
                    maxBackoff: spec.retry.maxBackoff, maxTotal: spec.retry.maxTotal)),
            pool: PoolOptions(
                maxSize: spec.pool.size, minIdle: spec.pool.minIdle, acquireTimeout: spec.pool.acquireTimeout,
                maxLifetime: spec.pool.maxLifetime, idleTimeout: spec.pool.idleTimeout),
            batch: variant.batchCommit
                ? .init(maxSize: spec.batch.size, window: spec.batch.window, closeWhenIdle: spec.batch.closeWhenIdle)
                : nil,
            payloadBytes: spec.payloadBytes,
            overdraft: spec.overdraft)
        configuration.locality = variant.locality
        configuration.timestamps =
            switch spec.timestamps {
            case .hlc: .hlc
            case .tso: .tso
            }
        return configuration
    }

    /// The file in a variant's data directory holding this shard's acknowledged transfers while
    /// the variant runs (see ``AcknowledgementSpill``).
    static func acknowledgedTransfersPath(variantDirectory: String, shard: Int) -> String {
        variantDirectory + "/acknowledged-transfers.\(shard)"
    }

    /// Runs one variant on a fresh backend and returns its results.
    public func run(
        variant: Variant, index: Int, of count: Int,
        makeBackend: @Sendable (EngineConfiguration) throws -> any Backend
    ) async throws -> VariantResult {
        let chooser = try keyChooser()
        let directory = options.dataDirectory + "/variant-\(index)"
        try? FileManager.default.removeItem(atPath: directory)
        let backend = try makeBackend(engineConfiguration(for: variant, directory: directory))
        let report = options.progress
        func progress(_ phase: DriverProgress.Phase, _ elapsed: Double, _ done: Int) {
            report(
                DriverProgress(
                    variant: variant.name, variantIndex: index, variantCount: count, phase: phase,
                    elapsedSeconds: elapsed, point: nil, cumulativeCount: done, cumulativeTPS: 0, cumulativeErrors: 0))
        }

        let clock = options.clock
        let interrupt = options.interrupt
        if interrupt?.isRequested == true {
            try await backend.shutdown()
            throw RunInterrupted(variant: variant.name)
        }
        // The driver's record of acknowledged transfers, kept on disk during the run.
        let spill: AcknowledgementSpill
        do {
            let code = FileSystemSupport.makeDirectories(directory)
            if code != 0 {
                throw DriverError(
                    key: "acknowledged transfers",
                    "cannot create the data directory \(directory): \(FileSystemSupport.describe(errno: code))")
            }
            spill = try AcknowledgementSpill(
                path: Self.acknowledgedTransfersPath(variantDirectory: directory, shard: options.shard.index))
        } catch {
            try? await backend.shutdown()
            throw error
        }
        let loadStart = clock.nowNanos()
        let accounts = spec.accounts
        _ = try await backend.load(accounts: accounts, initialBalance: spec.initialBalance) { loaded in
            // Report at each quarter of the load, not at every load transaction.
            let step = max(1, accounts / 4)
            if loaded == accounts || (loaded % step) < min(step, 1_000) {
                report(
                    DriverProgress(
                        variant: variant.name, variantIndex: index, variantCount: count, phase: .loading,
                        elapsedSeconds: Double(clock.nanosSince(loadStart)) / 1e9, point: nil, cumulativeCount: loaded,
                        cumulativeTPS: 0, cumulativeErrors: 0))
            }
        }

        let start = clock.nowNanos()
        let measureStart = start &+ UInt64(max(0, spec.warmup.nanoseconds))
        let deadline: UInt64
        let target: Int
        switch spec.length {
        case .duration(let duration):
            deadline = measureStart &+ UInt64(max(0, duration.nanoseconds))
            target = .max
        case .transactions(let total):
            deadline = .max
            target = max(1, shareOf(total))
        }
        let control = RunControl(
            measureStart: measureStart, deadline: deadline, target: target, clock: clock, interrupt: interrupt)
        let countersBefore = CounterSnapshot()
        let sampler = Sampler(
            variant: variant, index: index, count: count, start: start, control: control, report: report,
            countersBefore: countersBefore, backend: backend, extraGauges: options.memoryGauges)
        let recorders: [ClientRecorder]
        let cpuBefore = ProcessCPU.nanos()
        let samplerTask = Task { await sampler.run() }
        switch spec.load {
        case .closedLoop(let clientCounts):
            let clients = variant.clients ?? clientCounts.first ?? 1
            recorders = await runClosedLoop(
                clients: clients, chooser: chooser, backend: backend, control: control, sampler: sampler,
                acknowledged: spill)
        case .openLoop(let rate, let maxInFlight):
            recorders = await runOpenLoop(
                rate: rate / Double(options.shard.count), maxInFlight: maxInFlight, chooser: chooser, backend: backend,
                control: control, sampler: sampler, acknowledged: spill)
        }
        control.stop(at: clock.nowNanos())
        let cpuNow = ProcessCPU.nanos()
        let cpuNanos = cpuNow > cpuBefore ? cpuNow - cpuBefore : 0
        let transfersRun = control.completed.load(ordering: .relaxed)
        sampler.finish()
        // Wakes the sampler if it sleeps (on a test clock it would sleep until the clock moves).
        samplerTask.cancel()
        let timeSeries = await samplerTask.value
        if interrupt?.isRequested == true {
            // Stopped before its end: no audit (a second interrupt should not wait for one); the
            // caller reports the variants that finished.
            try await backend.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
            throw RunInterrupted(variant: variant.name)
        }
        let end = control.measureEnd.load(ordering: .relaxed)
        let measuredSeconds = Double(end > measureStart ? end - measureStart : 0) / 1e9

        // Totals over the nodes of what changed while measuring: the flat counters of run.json;
        // and each node's own, for the per-region and per-replica tables.
        let measured = backend.counters().subtracting(countersBefore.values)
        var counters = measured.totals
        var nodeCounters: [String: [String: Double]] = [:]
        for (node, values) in measured.nodes { nodeCounters[node.description] = values }
        for (key, value) in backend.gauges() { counters[key] = value }
        for (key, value) in options.memoryGauges() { counters[key] = value }
        // What running the transfers cost in CPU (warm-up and measured phase, every transfer
        // that completed in them): the driver's own cost against the null backend (the harness
        // overhead), the driver's and the engine's together for the embedded backend. Taken
        // around the loops, not at the sampler's tick, which thousands of busy clients can delay.
        counters["process_cpu_seconds"] = Double(cpuNanos) / 1e9
        counters["process_cpu_us_per_transfer"] =
            transfersRun > 0 ? Double(cpuNanos) / 1e3 / Double(transfersRun) : 0
        let flushes = counters["wal_flushes_with_commits"] ?? 0
        counters["commits_per_fsync"] = flushes > 0 ? (counters["wal_commits_flushed"] ?? 0) / flushes : 0

        // Read back once the transfers are done (after the measured phase and its memory gauges).
        let acks: AcknowledgedTransfers
        do { acks = try spill.readAll() } catch {
            try? await backend.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        progress(.checking, 0, acks.count)
        let audit = try await backend.audit(
            AuditExpectation(
                accounts: spec.accounts, initialBalance: spec.initialBalance, overdraft: spec.overdraft,
                acknowledged: acks, crash: spec.effectiveCrash == .process ? .process : .powerFailure))
        try await backend.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
        if spec.regions.contains(where: { $0.replicas > 1 }) {
            // What failovers lost under async replication: a cost the report shows (always 0 under
            // sync replication, where any loss fails the durability check).
            counters["acknowledged_lost_in_failover"] = Double(audit.acknowledgedLostInFailover)
        }

        return VariantResult(
            name: variant.name, parameters: parameters(of: variant), durationSeconds: measuredSeconds,
            classes: ClientRecorder.mergedResults(recorders),
            regions: ClientRecorder.mergedRegionResults(recorders, regions: spec.regions.map(\.name)),
            timeSeries: timeSeries, counters: counters, nodeCounters: nodeCounters,
            scheduleLag: ClientRecorder.mergedScheduleLag(recorders),
            checks: checks(audit, asyncReplication: variant.asyncReplication))
    }

    /// This shard's part of a population of `total` (clients or transactions).
    func shareOf(_ total: Int) -> Int {
        let (index, count) = options.shard
        return total / count + (index < total % count ? 1 : 0)
    }

    func parameters(of variant: Variant) -> [String: String] {
        var parameters = [
            "locality": String(variant.locality), "batch_commit": String(variant.batchCommit),
            "async_replication": String(variant.asyncReplication), "isolation": spec.isolation.rawValue,
            "durability": spec.durability.rawValue, "crash": spec.effectiveCrash.rawValue,
        ]
        switch spec.load {
        case .closedLoop(let clients): parameters["clients"] = String(variant.clients ?? clients.first ?? 1)
        case .openLoop(let rate, let maxInFlight):
            parameters["rate"] = String(rate)
            parameters["max_in_flight"] = String(maxInFlight)
        }
        // The batch bounds are the spec's whether or not batch commit is on, so that the on/off
        // variants differ in `batch_commit` alone.
        parameters["batch_size"] = String(spec.batch.size)
        parameters["batch_window_us"] = String(spec.batch.window.nanoseconds / 1000)
        parameters["batch_close_when_idle"] = String(spec.batch.closeWhenIdle)
        return parameters
    }

    /// The checks the spec asks for, from the audit after crash and recovery.
    ///
    /// The crash is the one the spec models (``WorkloadSpec/effectiveCrash``). Under
    /// `durability: fsync` any loss fails. Under `durability: none` a loss is the setting's measured
    /// price, reported and not failed; after a power failure there, the accounts whose unsynced
    /// load was lost are gone too, so money is checked among the accounts that survived.
    ///
    /// Replication (DESIGN.md, "Correctness checks"): under sync replication nothing acknowledged
    /// may be lost, failover or not. Under async replication (`asyncReplication`) the
    /// acknowledged transfers a failover lost (``AuditReport/acknowledgedLostInFailover``, a part
    /// of ``AuditReport/lost``) are counted and shown, not a failure by themselves; any other loss
    /// still fails. Replicas of each region must end with equal state hashes, and the identity
    /// must hold on every replica.
    func checks(_ audit: AuditReport, asyncReplication: Bool = false) -> [CheckResult] {
        var results: [CheckResult] = []
        let recovery = RecoveryText.describe(audit.recoveries)
        let crash = spec.effectiveCrash == .process ? "a process crash" : "a power failure"
        let lossIsPrice = spec.durability == .none
        let accountsLost = lossIsPrice ? max(0, spec.accounts - audit.accountsFound) : 0
        if spec.checks.conservation {
            let expected =
                accountsLost > 0 ? spec.initialBalance &* Int64(audit.accountsFound) : audit.expectedTotal
            results.append(
                CheckResult(
                    name: "conservation", passed: audit.actualTotal == expected,
                    detail: "sum of balances \(audit.actualTotal), expected \(expected)"
                        + (accountsLost > 0
                            ? " for the \(audit.accountsFound) accounts that survived \(crash) "
                                + "(\(accountsLost) unsynced accounts lost: the price of durability: none)"
                            : "")))
        }
        if spec.checks.noNegative && !spec.overdraft {
            results.append(
                CheckResult(
                    name: "no_negative", passed: audit.negativeAccounts == 0,
                    detail: "\(audit.negativeAccounts) accounts below zero"))
        }
        if spec.checks.durability {
            results.append(durabilityCheck(audit, asyncReplication: asyncReplication, crash: crash, recovery: recovery))
            let mismatches = max(0, audit.balanceMismatches - accountsLost)
            results.append(
                CheckResult(
                    name: "exactly_once", passed: mismatches == 0,
                    detail: "\(mismatches) accounts differ from initial balance + ledger credits - debits")
            )
        }
        if spec.checks.crossLayerIdentity {
            let replicated = spec.regions.contains { $0.replicas > 1 }
            results.append(
                CheckResult(
                    name: "cross_layer_identity", passed: audit.xidMismatches == 0 && audit.replicaXidMismatches == 0,
                    detail:
                        "L1 transaction id = L0 xmin for \(audit.acknowledged - audit.lost - audit.xidMismatches) of "
                        + "\(audit.acknowledged - audit.lost) ledger rows"
                        + (replicated
                            ? "; L2 timestamp = xmin on every replica: \(audit.replicaXidMismatches) committed "
                                + "versions differ"
                            : " (one replica per region: no replica to compare)")))
        }
        if spec.checks.replicaConvergence {
            results.append(convergenceCheck(audit))
        }
        if spec.checks.durability && (audit.preparedRemaining > 0 || audit.locksHeld > 0 || audit.inDoubtResolved > 0) {
            // Two-phase commit leaves nothing behind: every in-doubt transaction is resolved from its
            // coordinator's record, and no lock survives recovery.
            results.append(
                CheckResult(
                    name: "no_in_doubt_left", passed: audit.preparedRemaining == 0 && audit.locksHeld == 0,
                    detail: "\(audit.preparedRemaining) transactions still prepared and \(audit.locksHeld) row locks "
                        + "held after recovery; \(audit.inDoubtResolved) in-doubt transactions resolved from their "
                        + "coordinators' records"))
        }
        return results
    }

    /// Durability: every acknowledged transfer in the final state. Under async replication the
    /// part a failover lost is the measured price, shown and not failed.
    private func durabilityCheck(_ audit: AuditReport, asyncReplication: Bool, crash: String, recovery: String)
        -> CheckResult
    {
        let lossIsPrice = spec.durability == .none
        let failover = audit.acknowledgedLostInFailover
        let replicated = spec.regions.contains { $0.replicas > 1 }
        // Under sync replication a failover loss is a loss like any other; under async it is
        // expected, so only the rest counts against the check.
        let unexplained = asyncReplication ? max(0, audit.lost - failover) : audit.lost + failover
        var detail =
            "\(audit.acknowledged - audit.lost) of \(audit.acknowledged) acknowledged transfers present "
            + "after \(crash) and recovery (\(audit.lost) lost"
            + (audit.lost > 0 && lossIsPrice ? ": the measured price of durability: none" : "")
            + "; \(recovery))"
        if replicated {
            detail +=
                asyncReplication
                ? "; async replication: \(failover) acknowledged transfers lost in failover (lost under async: "
                    + "\(failover), the price of async replication, not a failure)"
                : "; sync replication: \(failover) lost in failover (must be 0)"
        }
        return CheckResult(name: "durability", passed: unexplained == 0 || lossIsPrice, detail: detail)
    }

    /// Replica convergence per region: every replica of a region ends with the same state hash
    /// (the audit brings them level first). The detail lists each replica's applied index and
    /// hash; a region of one replica passes trivially, and says so.
    func convergenceCheck(_ audit: AuditReport) -> CheckResult {
        guard !audit.stateHashes.isEmpty else {
            return CheckResult(
                name: "replica_convergence", passed: true,
                detail: "no node reported a state hash (the backend keeps no state)")
        }
        var byRegion: [String: [NodeID]] = [:]
        for node in audit.stateHashes.keys { byRegion[node.region, default: []].append(node) }
        let declared = spec.regions.map(\.name)
        let order = declared.filter { byRegion[$0] != nil } + byRegion.keys.filter { !declared.contains($0) }.sorted()
        var passed = true
        var parts: [String] = []
        for region in order {
            let nodes = (byRegion[region] ?? []).sorted()
            let states = nodes.map { node in
                let hash = audit.stateHashes[node] ?? 0
                let applied = audit.appliedIndexes[node].map { "applied \($0), " } ?? ""
                return "node-\(node.replica) \(applied)hash \(String(hash, radix: 16))"
            }
            let distinct = Set(nodes.compactMap { audit.stateHashes[$0] }).count
            if nodes.count == 1 {
                parts.append("\(region): 1 replica, converged trivially (\(states[0]))")
            } else if distinct == 1 {
                parts.append("\(region): \(nodes.count) replicas converged (\(states.joined(separator: "; ")))")
            } else {
                passed = false
                parts.append(
                    "\(region): \(nodes.count) replicas DIVERGED, \(distinct) distinct hashes "
                        + "(\(states.joined(separator: "; ")))")
            }
        }
        return CheckResult(name: "replica_convergence", passed: passed, detail: parts.joined(separator: " | "))
    }
}

/// Counter values at the start of measuring, so results report the measured phase only.
final class CounterSnapshot: Sendable {
    private let storage = Mutex(BackendCounters())

    var values: BackendCounters { storage.withLock { $0 } }

    func set(_ values: BackendCounters) { storage.withLock { $0 = values } }
}
