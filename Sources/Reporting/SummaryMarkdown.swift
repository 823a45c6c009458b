import Foundation
import Histogram
import Results
import WorkloadSpec

/// `summary.md`: the human-readable report of a run, GitHub-flavoured markdown.
public enum SummaryMarkdown {
    /// The summary with charts linked under the file names ``ReportWriter`` writes.
    public static func render(_ run: RunResult) -> String {
        render(
            run,
            charts: ChartLinks(
                layers: ReportWriter.layerChartFileName, cdf: ReportWriter.cdfChartFileName,
                throughput: ReportWriter.throughputChartFileName))
    }

    static func render(_ run: RunResult, charts: ChartLinks) -> String {
        var out: [String] = []
        out.append("# LayerBench: \(run.specName)")
        out.append("")
        out.append("- Run: `\(run.runID)`, started \(run.startedAt), shard \(run.shard)")
        let memoryGiB = Double(run.machine.memoryBytes) / 1_073_741_824
        out.append(
            "- Machine: \(run.machine.hostname), \(run.machine.cores) cores, "
                + "\(Format.fixed(memoryGiB, 1)) GiB, \(run.machine.cpuModel), \(run.machine.os)")
        if !run.versions.isEmpty {
            out.append(
                "- Versions: "
                    + run.versions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    .joined(separator: ", "))
        }
        let failedChecks = run.variants.flatMap(\.checks).filter { !$0.passed }.count
        out.append(
            "- Checks: "
                + (failedChecks == 0
                    ? "all passed" : "**\(failedChecks) FAILED**, see [Checks](#checks)"))
        if let partial = run.partial {
            out.append("- **Partial run**: \(partial); only the variants that finished are reported.")
        }
        if let sources = run.mergedFrom {
            out.append(
                "- Merged from \(sources.count) run(s): " + sources.map { "`\($0)`" }.joined(separator: ", ")
                    + ". Counts, histograms and TPS are the sum over the shards. Each shard drove its own "
                    + "engine (embedded backends are independent processes), so the TPS is the sum of "
                    + "independent engines, not the throughput of one engine under the combined load.")
        }
        out.append("")

        out += headline(run)
        out += regions(run)
        out += pgbenchSideBySide(run)
        out += errorsBySQLSTATE(run)
        out += layerBreakdown(run)
        out.append("![Mean latency by layer](\(charts.layers))")
        out.append("")
        out += l2Breakdown(run)
        out += seedBudget(run)
        out += latencyFidelity(run)
        out.append("## Latency distribution")
        out.append("")
        out.append("![End-to-end latency by percentile](\(charts.cdf))")
        out.append("")
        out += optimisations(run)
        out += seedClaims(run)
        out += counters(run)
        out += processCPU(run)
        out += replication(run)
        out += checks(run)
        out += scheduleLag(run)
        out.append("## Throughput over time")
        out.append("")
        out.append("![Throughput over time](\(charts.throughput))")
        out.append("")
        out += memoryOverTime(run)
        out += parameters(run)
        return out.joined(separator: "\n")
    }

    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        var lines = ["| " + header.map(Format.cell).joined(separator: " | ") + " |"]
        lines.append(
            "|" + header.indices.map { rightAligned.contains($0) ? "---:" : "---" }.joined(separator: "|")
                + "|")
        for row in rows {
            lines.append("| " + row.map(Format.cell).joined(separator: " | ") + " |")
        }
        lines.append("")
        return lines
    }

    static func headline(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        for variant in run.variants {
            for result in variant.classes {
                let e2e = result.histogram(.endToEnd)
                rows.append([
                    variant.name, result.transferClass.rawValue, String(result.committed),
                    Format.number(result.tps(durationSeconds: variant.durationSeconds)),
                    Format.millis(e2e.valueAtPercentile(50)), Format.millis(e2e.valueAtPercentile(99)),
                    Format.millis(e2e.valueAtPercentile(99.9)), String(result.errors), String(result.retries),
                ])
            }
        }
        return ["## Results", ""]
            + table(
                [
                    "variant", "class", "committed", "TPS", "p50 ms", "p99 ms", "p99.9 ms", "errors",
                    "retries",
                ], rows,
                rightAligned: Set(2...8))
    }

    /// LayerBench's postgres backend next to `pgbench` on the same server (variants that ran it).
    static func pgbenchSideBySide(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        var commands: [String] = []
        for variant in run.variants {
            guard let pgbench = variant.pgbench else { continue }
            let total = ClassResult.total(variant.classes)
            let mean = (total?.meanMicros() ?? 0) / 1000
            rows.append([
                variant.name, String(pgbench.clients), Format.number(variant.tps), Format.number(pgbench.tps),
                pgbench.tps > 0 ? String(format: "%.2fx", variant.tps / pgbench.tps) : "-",
                String(format: "%.2f", mean), String(format: "%.2f", pgbench.latencyAverageMs),
                String(variant.classes.reduce(0) { $0 + $1.errors }), String(pgbench.failedTransactions),
            ])
            commands.append("- \(variant.name): `\(pgbench.command)`")
        }
        guard !rows.isEmpty else { return [] }
        return ["## Side by side with pgbench", ""]
            + table(
                [
                    "variant", "clients", "LayerBench TPS", "pgbench TPS", "ratio", "LayerBench mean ms",
                    "pgbench mean ms", "LayerBench errors", "pgbench failed",
                ], rows, rightAligned: Set(1...8))
            + [
                "pgbench ran right after the variant's measured phase, on the same server and accounts, with the "
                    + "same clients, duration and isolation, prepared statements (-M prepared) and the custom "
                    + "script below (the same transaction as LayerBench's). Commands:",
                "",
            ] + commands + [""] + scripts(run)
    }

    /// The custom scripts pgbench ran (each distinct one once), as code blocks.
    static func scripts(_ run: RunResult) -> [String] {
        var seen: [String] = []
        for variant in run.variants {
            if let script = variant.pgbench?.script, !seen.contains(script) { seen.append(script) }
        }
        var lines: [String] = []
        for script in seen {
            let title = seen.count > 1 ? "Script (`transfer.sql`, one of \(seen.count)):" : "Script (`transfer.sql`):"
            var body = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            while body.last?.isEmpty == true { body.removeLast() }
            lines += [title, "", "```"] + body + ["```", ""]
        }
        return lines
    }

    static func errorsBySQLSTATE(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        for variant in run.variants {
            for result in variant.classes {
                let states = Set(result.failed.keys).union(result.retriedErrors.keys).sorted()
                for state in states {
                    rows.append([
                        variant.name, result.transferClass.rawValue, state, String(result.failed[state] ?? 0),
                        String(result.retriedErrors[state] ?? 0),
                    ])
                }
            }
        }
        guard !rows.isEmpty else { return [] }
        return ["### Errors by SQLSTATE", ""]
            + table(["variant", "class", "SQLSTATE", "failed", "retried"], rows, rightAligned: [3, 4])
    }

    static func layerBreakdown(_ run: RunResult) -> [String] {
        var rows: [[String]] = []
        for variant in run.variants {
            for result in variant.classes {
                let total = result.meanMicros(layer: .endToEnd)
                var row = [variant.name, result.transferClass.rawValue, Format.millis(total)]
                for layer in [MetricLayer.l2, .l1, .l0] {
                    let mean = result.meanMicros(layer: layer)
                    row.append(Format.millis(mean))
                    row.append(Format.millis(result.percentileMicros(99, layer: layer)))
                    row.append(total > 0 ? Format.fixed(mean / total * 100, 1) + " %" : "n/a")
                }
                rows.append(row)
            }
        }
        return [
            "## Latency by layer", "",
            "Mean and p99 self time of each layer on the critical path, and its share of the mean "
                + "end-to-end latency (means add up, percentiles do not).", "",
        ]
            + table(
                [
                    "variant", "class", "e2e mean ms", "L2 mean ms", "L2 p99 ms", "L2 share", "L1 mean ms",
                    "L1 p99 ms", "L1 share", "L0 mean ms", "L0 p99 ms", "L0 share",
                ], rows, rightAligned: Set(2...11))
    }

    static func optimisations(_ run: RunResult) -> [String] {
        let deltas = OptimisationDelta.deltas(run)
        var lines = ["## Optimisations on/off", ""]
        guard !deltas.isEmpty else {
            lines.append(
                "No optimisation was varied (no two variants differ only in one on/off parameter).")
            lines.append("")
            return lines
        }
        var rows: [[String]] = []
        for delta in deltas {
            rows.append([
                delta.optimisation, "\(delta.offVariant) → \(delta.onVariant)",
                delta.transferClass?.rawValue ?? "all",
                "\(Format.number(delta.tps.off)) → \(Format.number(delta.tps.on)) "
                    + "(\(Format.percentChange(from: delta.tps.off, to: delta.tps.on)))",
                "\(Format.millis(delta.p50Micros.off)) → \(Format.millis(delta.p50Micros.on)) "
                    + "(\(Format.percentChange(from: Double(delta.p50Micros.off), to: Double(delta.p50Micros.on))))",
                "\(Format.millis(delta.p99Micros.off)) → \(Format.millis(delta.p99Micros.on)) "
                    + "(\(Format.percentChange(from: Double(delta.p99Micros.off), to: Double(delta.p99Micros.on))))",
                delta.claim?.text ?? "",
                delta.claim.map { claim in
                    let measured = delta.measuredClaimChangePercent
                    let text = measured.map(Format.signedPercent) ?? "n/a"
                    return "\(claim.metric == .tps ? "TPS" : "p50") \(text): "
                        + claim.verdict(measuredChangePercent: measured)
                } ?? "",
            ])
        }
        lines += table(
            ["optimisation", "off → on", "class", "TPS", "p50 ms", "p99 ms", "claim", "measured"], rows)
        let costs = deltas.compactMap { delta in
            delta.cost.map { "- \(delta.optimisation) (\(delta.onVariant)): \($0)" }
        }
        if !costs.isEmpty {
            lines.append("What the optimisation cost:")
            lines.append("")
            lines += costs
            lines.append("")
        }
        return lines
    }

    static func counters(_ run: RunResult) -> [String] {
        let names = Set(run.variants.flatMap(\.counters.keys)).sorted()
        guard !names.isEmpty else { return [] }
        var rows: [[String]] = []
        for name in names {
            var row = [name]
            for variant in run.variants {
                guard let value = variant.counters[name] else {
                    row.append("")
                    continue
                }
                var cell = Format.number(value)
                if !VariantResult.isRatioCounter(name), !VariantResult.isGauge(name), variant.committed > 0 {
                    cell += " (\(Format.number(value / Double(variant.committed)))/transfer)"
                }
                row.append(cell)
            }
            rows.append(row)
        }
        return ["## Engine counters", ""]
            + table(
                ["counter"] + run.variants.map(\.name), rows, rightAligned: Set(1...run.variants.count))
    }

    static func checks(_ run: RunResult) -> [String] {
        let rows = run.variants.flatMap { variant in
            variant.checks.map { [variant.name, $0.name, $0.passed ? "PASS" : "**FAIL**", $0.detail] }
        }
        guard !rows.isEmpty else { return ["## Checks", "", "No checks were run.", ""] }
        return ["## Checks", ""] + table(["variant", "check", "result", "detail"], rows)
    }

    static func scheduleLag(_ run: RunResult) -> [String] {
        let rows: [[String]] = run.variants.compactMap { variant in
            guard let lag = variant.scheduleLag, lag.totalCount > 0 else { return nil }
            return [
                variant.name, String(lag.totalCount), Format.millis(lag.valueAtPercentile(50)),
                Format.millis(lag.valueAtPercentile(99)), Format.millis(lag.max),
            ]
        }
        guard !rows.isEmpty else { return [] }
        return [
            "## Open-loop schedule lag", "",
            "How late sends started against the target rate; latencies above are measured from the "
                + "intended start (no coordinated omission).", "",
        ]
            + table(
                ["variant", "sends", "p50 ms", "p99 ms", "max ms"], rows, rightAligned: [1, 2, 3, 4])
    }

    /// The gauges of the time series, at most ``memoryRows`` seconds per variant (evenly spaced,
    /// first and last included), with the change from the first to the last second: whether
    /// memory, the heap and the commit log stay flat over a run.
    static func memoryOverTime(_ run: RunResult) -> [String] {
        let columns: [(name: String, title: String, scale: Double)] = [
            ("jemalloc_resident_bytes", "resident MiB", 1 / 1_048_576),
            ("jemalloc_allocated_bytes", "allocated MiB", 1 / 1_048_576),
            ("heap_versions", "heap versions", 1), ("commit_log_entries", "commit log entries", 1),
        ]
        var out: [String] = []
        for variant in run.variants {
            let points = variant.timeSeries.filter { $0.gauges?.isEmpty == false }
            guard let first = points.first, let last = points.last else { continue }
            let present = columns.filter { column in points.contains { $0.gauges?[column.name] != nil } }
            guard !present.isEmpty else { continue }
            var chosen: [TimeSeriesPoint] = []
            for index in 0..<min(points.count, memoryRows) {
                let position = points.count <= memoryRows ? index : index * (points.count - 1) / (memoryRows - 1)
                chosen.append(points[position])
            }
            var rows = chosen.map { point in
                [String(point.second)]
                    + present.map { column in
                        point.gauges?[column.name].map { Format.number(($0 * column.scale).rounded()) } ?? ""
                    }
            }
            rows.append(
                ["first → last"]
                    + present.map { column in
                        guard let a = first.gauges?[column.name], let b = last.gauges?[column.name] else { return "" }
                        return Format.percentChange(from: a, to: b)
                    })
            if out.isEmpty { out = ["## Memory over time", ""] }
            out.append("### \(variant.name)")
            out.append("")
            out += table(["second"] + present.map(\.title), rows, rightAligned: Set(0...present.count))
        }
        return out
    }

    /// The most rows per variant in ``memoryOverTime(_:)``.
    static let memoryRows = 10

    static func parameters(_ run: RunResult) -> [String] {
        let rows = run.variants.map { variant in
            [
                variant.name, Format.number(variant.durationSeconds),
                variant.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: ", "),
            ]
        }
        guard !rows.isEmpty else { return [] }
        return ["## Variants", ""] + table(["variant", "measured s", "parameters"], rows)
    }
}
