import Histogram
import WorkloadSpec

/// Why the results of several driver processes cannot be merged into one run.
public enum RunMergeError: Error, Equatable, CustomStringConvertible {
    /// Nothing to merge.
    case noRuns
    /// A run was written by a different `run.json` format.
    case formatVersionMismatch(runID: String, expected: Int, found: Int)
    /// A run measured a different spec (name or effective YAML differ).
    case specMismatch(runID: String, expected: String, found: String)
    /// A shard is not of the form `i/n` with `1 <= i <= n`.
    case invalidShard(runID: String, shard: String)
    /// The shards disagree on `n`, or one shard appears twice.
    case inconsistentShards([String])
    /// A variant is missing from one of the runs.
    case variantMismatch(runID: String, variant: String)

    /// What went wrong and which run to look at.
    public var description: String {
        switch self {
        case .noRuns:
            "no runs to merge"
        case .formatVersionMismatch(let runID, let expected, let found):
            "run \(runID) has run.json format \(found), expected \(expected)"
        case .specMismatch(let runID, let expected, let found):
            "run \(runID) measured spec '\(found)', not '\(expected)' (the effective spec text must be identical)"
        case .invalidShard(let runID, let shard):
            "run \(runID) has shard '\(shard)', expected i/n with 1 <= i <= n"
        case .inconsistentShards(let shards):
            "shards \(shards.joined(separator: ", ")) are not distinct parts of the same n"
        case .variantMismatch(let runID, let variant):
            "variant '\(variant)' is missing from run \(runID)"
        }
    }
}

extension RunResult {
    /// Parses a shard `i/n`; `nil` unless `1 <= i <= n`.
    public static func parseShard(_ shard: String) -> (index: Int, count: Int)? {
        let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]),
            index >= 1, index <= count
        else { return nil }
        return (index, count)
    }

    /// Merges the results of one spec measured by several driver processes (`--shard i/n`)
    /// at the same time into one run.
    ///
    /// - Histograms are added; counts, retries and errors summed, per class and per region.
    /// - The measured window is the longest of the shards', so the merged TPS (total committed
    ///   over that window) equals the sum of the shards' TPS when their windows are equal and
    ///   is slightly conservative otherwise.
    /// - Time series are summed per second (TPS, errors, retries). Per-second percentiles are not
    ///   kept as histograms, so the merged p50 and p99 of a second are the maximum of the shards'
    ///   values: an upper bound, exact when one shard dominates.
    /// - Counters that are totals are summed; ratio counters (see
    ///   ``VariantResult/isRatioCounter(_:)``) are the mean of the shards' values.
    /// - A check passes when it passed in every shard; differing details are listed per shard.
    /// - The run id is a new one (`runID`), `startedAt` the earliest, and ``RunResult/mergedFrom``
    ///   lists the shards' run ids; the shard becomes `1/1` when all `n` shards are present, else
    ///   the merged shards' list. Gauges of the time series are summed (the shards' engines are
    ///   independent processes). Machines on different hosts
    ///   are summed (cores, memory) with their host names joined.
    ///
    /// - Throws: ``RunMergeError`` when the runs measured different specs, formats or variants,
    ///   or their shards are malformed or repeated.
    public static func merge(_ runs: [RunResult], runID: String = RunResult.makeRunID()) throws -> RunResult {
        guard let first = runs.first else { throw RunMergeError.noRuns }
        var shards: [(index: Int, count: Int)] = []
        for run in runs {
            guard run.formatVersion == first.formatVersion else {
                throw RunMergeError.formatVersionMismatch(
                    runID: run.runID, expected: first.formatVersion, found: run.formatVersion)
            }
            guard run.specName == first.specName, run.spec == first.spec else {
                throw RunMergeError.specMismatch(
                    runID: run.runID, expected: first.specName, found: run.specName)
            }
            guard let shard = parseShard(run.shard) else {
                throw RunMergeError.invalidShard(runID: run.runID, shard: run.shard)
            }
            shards.append(shard)
            for variant in first.variants where run.variant(named: variant.name) == nil {
                throw RunMergeError.variantMismatch(runID: run.runID, variant: variant.name)
            }
            for variant in run.variants where first.variant(named: variant.name) == nil {
                throw RunMergeError.variantMismatch(runID: first.runID, variant: variant.name)
            }
        }
        let shardCount = shards[0].count
        guard shards.allSatisfy({ $0.count == shardCount }),
            Set(shards.map(\.index)).count == shards.count
        else {
            throw RunMergeError.inconsistentShards(runs.map(\.shard))
        }
        let ordered = zip(shards, runs).sorted { $0.0.index < $1.0.index }.map(\.1)
        var merged = ordered[0]
        merged.runID = runID
        merged.mergedFrom = ordered.map(\.runID)
        if runs.count == 1 {
            merged.shard = first.shard
            return merged
        }
        merged.startedAt = runs.map(\.startedAt).min() ?? first.startedAt
        merged.shard = runs.count == shardCount ? "1/1" : ordered.map(\.shard).joined(separator: ",")
        merged.machine = mergedMachine(ordered.map(\.machine))
        for run in ordered.dropFirst() {
            merged.versions.merge(run.versions) { mine, theirs in
                mine == theirs || mine.contains(theirs) ? mine : mine + ", " + theirs
            }
        }
        merged.variants = first.variants.map { variant in
            mergedVariant(
                ordered.compactMap { run in run.variant(named: variant.name).map { (run.shard, $0) } })
        }
        return merged
    }

    private static func mergedMachine(_ machines: [MachineInfo]) -> MachineInfo {
        var merged = machines[0]
        var hosts: [String] = [merged.hostname]
        for machine in machines.dropFirst() where !hosts.contains(machine.hostname) {
            hosts.append(machine.hostname)
            merged.cores += machine.cores
            merged.memoryBytes += machine.memoryBytes
        }
        merged.hostname = hosts.joined(separator: ",")
        return merged
    }

    private static func mergedVariant(_ parts: [(shard: String, variant: VariantResult)])
        -> VariantResult
    {
        var merged = parts[0].variant
        merged.durationSeconds = parts.map(\.variant.durationSeconds).max() ?? merged.durationSeconds
        merged.classes = ClassResult.merged(parts.flatMap(\.variant.classes))
        merged.regions = RegionResult.merged(parts.flatMap(\.variant.regions))
        merged.timeSeries = mergedTimeSeries(parts.map(\.variant.timeSeries))
        merged.counters = mergedCounters(parts.map(\.variant.counters))
        var nodes: [String: [[String: Double]]] = [:]
        for part in parts {
            for (node, counters) in part.variant.nodeCounters { nodes[node, default: []].append(counters) }
        }
        merged.nodeCounters = nodes.mapValues(mergedCounters)
        var lag: Histogram<UInt64>?
        for part in parts {
            guard let other = part.variant.scheduleLag else { continue }
            if lag == nil { lag = other } else { lag?.add(other) }
        }
        merged.scheduleLag = lag
        merged.checks = mergedChecks(parts.map { ($0.shard, $0.variant.checks) })
        return merged
    }

    private static func mergedTimeSeries(_ series: [[TimeSeriesPoint]]) -> [TimeSeriesPoint] {
        var bySecond: [Int: [TransferClass: TimeSeriesPoint.ClassPoint]] = [:]
        var gauges: [Int: [String: Double]] = [:]
        for point in series.joined() {
            if let pointGauges = point.gauges {
                gauges[point.second, default: [:]].merge(pointGauges, uniquingKeysWith: +)
            }
            for classPoint in point.classes {
                if var existing = bySecond[point.second]?[classPoint.transferClass] {
                    existing.tps += classPoint.tps
                    existing.errors += classPoint.errors
                    existing.retries += classPoint.retries
                    existing.p50Micros = max(existing.p50Micros, classPoint.p50Micros)
                    existing.p99Micros = max(existing.p99Micros, classPoint.p99Micros)
                    bySecond[point.second]?[classPoint.transferClass] = existing
                } else {
                    bySecond[point.second, default: [:]][classPoint.transferClass] = classPoint
                }
            }
            if bySecond[point.second] == nil { bySecond[point.second] = [:] }
        }
        return bySecond.keys.sorted().map { second in
            var point = TimeSeriesPoint(
                second: second,
                classes: (bySecond[second] ?? [:]).values.sorted { $0.transferClass < $1.transferClass })
            point.gauges = gauges[second]
            return point
        }
    }

    private static func mergedCounters(_ counters: [[String: Double]]) -> [String: Double] {
        var sums: [String: Double] = [:]
        var seen: [String: Int] = [:]
        for shard in counters {
            for (name, value) in shard {
                sums[name, default: 0] += value
                seen[name, default: 0] += 1
            }
        }
        var merged: [String: Double] = [:]
        for (name, sum) in sums {
            merged[name] = VariantResult.isRatioCounter(name) ? sum / Double(seen[name] ?? 1) : sum
        }
        return merged
    }

    private static func mergedChecks(_ parts: [(shard: String, checks: [CheckResult])])
        -> [CheckResult]
    {
        var order: [String] = []
        var byName: [String: [(shard: String, check: CheckResult)]] = [:]
        for part in parts {
            for check in part.checks {
                if byName[check.name] == nil { order.append(check.name) }
                byName[check.name, default: []].append((part.shard, check))
            }
        }
        return order.map { name in
            let results = byName[name] ?? []
            let details = Set(results.map(\.check.detail))
            let detail =
                details.count <= 1
                ? (details.first ?? "")
                : results.map { "shard \($0.shard): \($0.check.detail)" }.joined(separator: "; ")
            return CheckResult(name: name, passed: results.allSatisfy(\.check.passed), detail: detail)
        }
    }
}
