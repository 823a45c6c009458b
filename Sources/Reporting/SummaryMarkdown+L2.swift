import Results
import WorkloadSpec

extension SummaryMarkdown {
    /// Where L2 time went, per variant x class: the mean of each span over the committed
    /// transfers and its share of the mean L2 time; what no span accounts for is shown as
    /// "other". Empty when no class has a breakdown (a backend that reports none gives all-zero
    /// spans).
    static func l2Breakdown(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        for variant in run.variants {
            for result in variant.classes where result.l2Spans.sums.total > 0 {
                let l2 = result.meanMicros(layer: .l2)
                func share(_ micros: Double) -> String {
                    l2 > 0 ? Format.fixed(micros / l2 * 100, 1) + " %" : "n/a"
                }
                var row = [variant.name, result.transferClass.rawValue, Format.millis(l2)]
                for span in L2Span.allCases {
                    let mean = result.l2Spans.meanMicros(span)
                    row.append("\(Format.millis(mean)) (\(share(mean)))")
                }
                let other = max(0, l2 - result.l2Spans.meanTotalMicros)
                row.append("\(Format.millis(other)) (\(share(other)))")
                rows.append(row)
            }
        }
        guard !rows.isEmpty else { return [] }
        return [
            "## L2 breakdown", "",
            "Mean milliseconds of each L2 span per committed transfer and, in brackets, its share of the "
                + "mean L2 time: the seed's latency budget (timestamp 1 ms local / 50 ms remote, 2PC 2 x RTT, "
                + "WAL fsync) held against the measured spans. `other` is L2 time no span accounts for.", "",
        ]
            + table(
                ["variant", "class", "L2 mean ms"] + L2Span.allCases.map { "\($0.rawValue) ms" } + ["other ms"], rows,
                rightAligned: Set(2...(L2Span.allCases.count + 3)))
    }

    /// The critical-path minimum of each variant x class x client region next to the measured
    /// median. Empty when the run has no per-region results or its spec cannot be read back.
    static func latencyFidelity(_ run: RunResult) -> [String] {
        guard let fidelity = run.latencyFidelity ?? LatencyFidelity.compute(run), !fidelity.rows.isEmpty else {
            return []
        }
        let rows = fidelity.rows.map { row in
            [
                row.variant, row.transferClass.rawValue, row.clientRegion, String(row.transfers),
                Format.fixed(row.minimumMillis, 2), Format.fixed(row.measuredP50Millis, 2),
                row.ratio.map { Format.fixed($0, 2) } ?? "n/a",
                row.measuredMeanMillis.map { Format.fixed($0, 2) } ?? "n/a",
                row.meanRatio.map { Format.fixed($0, 2) } ?? "n/a",
            ]
        }
        var fsync: [String] = []
        for variant in run.variants {
            guard let regions = fidelity.fsyncMillis[variant.name], !regions.isEmpty else { continue }
            let cells = regions.sorted { $0.key < $1.key }.map { "\($0.key) \(Format.fixed($0.value, 3)) ms" }
            fsync.append("- \(variant.name): " + cells.joined(separator: ", "))
        }
        return [
            "## Latency fidelity", "",
            "Each class's measured p50 next to its critical-path minimum (DESIGN.md, \"Commit paths and their "
                + "critical-path minimum\"): the spec's round trips and the fsync time measured in this run (the "
                + "mean over each region's replicas of its fsync time per fsync). Cross-region minimums are the "
                + "mean of the per-destination minimums, destinations being uniform over the other regions. "
                + "Ratio = measured / minimum. Cross-region transfers of one client region go to destinations "
                + "whose round trips differ, so their latencies are bimodal and the p50 sits in one mode: read "
                + "their mean ratio (the mean of the latencies against the mean of the minimums).", "",
        ]
            + table(
                [
                    "variant", "class", "client region", "transfers", "minimum ms", "p50 ms", "p50 ratio", "mean ms",
                    "mean ratio",
                ], rows,
                rightAligned: [3, 4, 5, 6, 7, 8])
            + (fsync.isEmpty
                ? ["No fsync time was measured (no per-node counters): the minimums count the network only.", ""]
                : ["Measured fsync per region:", ""] + fsync + [""])
    }

    /// The seed's claims per switch and class, measured between variants that differ only in
    /// that switch. Empty when no switch was varied.
    static func seedClaims(_ run: RunResult) -> [String] {
        let rows = SeedClaims.rows(run)
        guard !rows.isEmpty else { return [] }
        let cells = rows.map { row in
            let unit: (Double) -> String =
                row.claim.metric == .tps ? { Format.number($0) } : { Format.millis($0) }
            return [
                row.claim.optimisation, row.transferClass.rawValue, row.clientRegion ?? "all",
                "\(row.offVariant) → \(row.onVariant)",
                row.claim.metric == .tps ? "TPS" : "p50 ms", "\(unit(row.off)) → \(unit(row.on))",
                row.claim.text, row.verdict,
            ]
        }
        return [
            "## Claims", "",
            "Each switch's measured effect per class, between variants that differ only in it (p50 latency "
                + "for locality and async replication, TPS for batch commit), next to the seed's claim. Latency is "
                + "compared over all client regions and per client region (a class's p50 over all regions is "
                + "dominated by the region whose clients complete the most transfers).", "",
        ]
            + table(["switch", "class", "client region", "off → on", "metric", "measured", "claim", "verdict"], cells)
    }

    /// What running the transfers cost the process in CPU, per variant: against the null backend
    /// the harness's own cost per transfer, against the embedded backend the driver's and the
    /// engine's together. Empty for runs recorded before it was measured.
    static func processCPU(_ run: RunResult) -> [String] {
        let rows: [[String]] = run.variants.compactMap { variant in
            guard let perTransfer = variant.counters["process_cpu_us_per_transfer"] else { return nil }
            return [
                variant.name, Format.number(variant.tps),
                Format.number(variant.counters["process_cpu_seconds"] ?? 0), Format.fixed(perTransfer, 2),
            ]
        }
        guard !rows.isEmpty else { return [] }
        return [
            "## Process CPU per transfer", "",
            "CPU time of the whole process (user + system, every thread, from getrusage) while the transfers ran, "
                + "warm-up included, over every transfer completed in that time: the driver's own cost against the "
                + "null backend; the driver's and the embedded engine's together otherwise.", "",
        ]
            + table(["variant", "TPS", "CPU s", "CPU µs/transfer"], rows, rightAligned: [1, 2, 3])
    }

    /// The seed's latency budget (its section 5.1: timestamp 1 ms local / 50 ms remote, 2PC
    /// 2 x RTT, WAL fsync) beside the measured spans, per variant x class with an L2 breakdown:
    /// the mean timestamp span, the mean 2PC network span, the fsync time measured per fsync
    /// (mean over every replica), the mean L2 time and the p50. The RTT of `2 x RTT` is the mean of
    /// the spec's inter-region round trips. Empty when no class has a breakdown.
    static func seedBudget(_ run: RunResult) -> [String] {
        let model = (try? WorkloadSpec.decode(yaml: run.spec, file: "run.json spec")).map(CriticalPath.init(spec:))
        var pairs: [Double] = []
        if let model {
            for a in model.regions.indices {
                for b in model.regions.indices where b > a { pairs.append(model.rttMillis[a][b]) }
            }
        }
        let rtt = pairs.isEmpty ? nil : pairs.reduce(0, +) / Double(pairs.count)
        var rows: [[String]] = []
        for variant in run.variants {
            let perRegion = CriticalPath.fsyncMillis(nodeCounters: variant.nodeCounters)
            let fsync = perRegion.isEmpty ? nil : perRegion.values.reduce(0, +) / Double(perRegion.count)
            for result in variant.classes where result.l2Spans.sums.total > 0 {
                rows.append([
                    variant.name, result.transferClass.rawValue,
                    Format.fixed(result.l2Spans.meanMicros(.timestamp) / 1000, 2),
                    Format.fixed(result.l2Spans.meanMicros(.network) / 1000, 2),
                    fsync.map { Format.fixed($0, 3) } ?? "n/a", Format.millis(result.meanMicros(layer: .l2)),
                    Format.millis(result.percentileMicros(50)),
                ])
            }
        }
        guard !rows.isEmpty else { return [] }
        let twoRTT = rtt.map { "2 x RTT = \(Format.number(2 * $0)) ms" } ?? "2 x RTT"
        return [
            "## The seed's latency budget", "",
            "The seed's budget (section 5.1) beside the measured means per committed transfer: the timestamp span, "
                + "the 2PC rounds' network span and the WAL fsync (measured per fsync, mean over every replica). "
                + "RTT is the mean of the spec's inter-region round trips.", "",
        ]
            + table(
                [
                    "variant", "class", "timestamp ms (seed: 1 local / 50 remote)", "2PC network ms (seed: \(twoRTT))",
                    "fsync ms (seed: WAL fsync)", "L2 mean ms", "p50 ms",
                ], rows, rightAligned: [2, 3, 4, 5, 6])
    }
}
