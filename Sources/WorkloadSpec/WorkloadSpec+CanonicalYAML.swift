extension WorkloadSpec {
    /// The effective spec (file, overrides and defaults) as YAML, for `run.json` and for
    /// re-running exactly what ran.
    ///
    /// Every key is written, in the order of the spec reference, durations in their largest
    /// exact unit; decoding the text gives back an equal spec.
    public var canonicalYAML: String {
        var lines: [String] = []
        func add(_ key: String, _ value: String) { lines.append("\(key): \(value)") }
        add("name", Self.yamlString(name))
        add("description", Self.yamlString(description))
        add("backend", backend.rawValue)
        add("seed", "\(seed)")
        add("accounts", "\(accounts)")
        add("initial_balance", "\(initialBalance)")
        add("overdraft", "\(overdraft)")
        add("payload_bytes", "\(payloadBytes)")
        add("amount", Self.flow([("min", "\(amount.min)"), ("max", "\(amount.max)")]))
        switch distribution {
        case .uniform:
            add("distribution", "uniform")
        case .zipf(let theta):
            add("distribution", Self.flow([("type", "zipf"), ("theta", Self.number(theta))]))
        case .hotspot(let fraction, let probability):
            add(
                "distribution",
                Self.flow([
                    ("type", "hotspot"), ("fraction", Self.number(fraction)),
                    ("probability", Self.number(probability)),
                ])
            )
        }
        lines.append("regions:")
        for region in regions {
            lines.append(
                "  - "
                    + Self.flow(
                        [("name", Self.yamlString(region.name)), ("replicas", "\(region.replicas)")]
                            + (region.dsn.map { [("dsn", Self.yamlString($0.text))] } ?? []))
            )
        }
        lines.append("network:")
        lines.append("  intra_region_rtt: \(SpecDuration.format(network.intraRegionRTT))")
        lines.append("  jitter: \(SpecDuration.format(network.jitter))")
        var rows: [String] = []
        for (index, a) in regions.enumerated() {
            let cells = regions[(index + 1)...].compactMap { b -> (String, String)? in
                network.rtt[RegionPair(a.name, b.name)].map {
                    (Self.yamlString(b.name), SpecDuration.format($0))
                }
            }
            if !cells.isEmpty { rows.append("    \(Self.yamlString(a.name)): \(Self.flow(cells))") }
        }
        lines.append(rows.isEmpty ? "  rtt: {}" : "  rtt:")
        lines.append(contentsOf: rows)
        add(
            "mix",
            Self.flow(
                TransferClass.allCases.map { ($0.rawValue, Self.number(mix.weight(of: $0))) }
            )
        )
        switch load {
        case .closedLoop(let clients):
            add("clients", Self.axis(clients.map { "\($0)" }))
        case .openLoop(let rate, let maxInFlight):
            add("rate", Self.number(rate))
            add("max_in_flight", "\(maxInFlight)")
        }
        add("think_time", SpecDuration.format(thinkTime))
        add("warmup", SpecDuration.format(warmup))
        switch length {
        case .duration(let duration): add("duration", SpecDuration.format(duration))
        case .transactions(let count): add("transactions", "\(count)")
        }
        add("isolation", isolation.rawValue)
        add("timestamps", timestamps.rawValue)
        add("durability", durability.rawValue)
        add(
            "optimisations",
            Self.flow([
                ("locality", Self.axis(optimisations.locality.map { "\($0)" })),
                ("batch_commit", Self.axis(optimisations.batchCommit.map { "\($0)" })),
                ("async_replication", Self.axis(optimisations.asyncReplication.map { "\($0)" })),
            ])
        )
        add(
            "batch",
            Self.flow([
                ("size", "\(batch.size)"), ("window", SpecDuration.format(batch.window)),
                ("close_when_idle", "\(batch.closeWhenIdle)"),
            ]))
        add(
            "pool",
            Self.flow([
                ("size", "\(pool.size)"), ("min_idle", "\(pool.minIdle)"),
                ("acquire_timeout", SpecDuration.format(pool.acquireTimeout)),
                ("max_lifetime", SpecDuration.format(pool.maxLifetime)),
                ("idle_timeout", SpecDuration.format(pool.idleTimeout)),
            ])
        )
        add(
            "retry",
            Self.flow([
                ("max_attempts", "\(retry.maxAttempts)"),
                ("base_backoff", SpecDuration.format(retry.baseBackoff)),
                ("max_backoff", SpecDuration.format(retry.maxBackoff)),
                ("max_total", SpecDuration.format(retry.maxTotal)),
            ])
        )
        add("lock_timeout", SpecDuration.format(lockTimeout))
        lines.append(faults.isEmpty ? "faults: []" : "faults:")
        for fault in faults {
            var pairs = [
                ("at", SpecDuration.format(fault.at)), ("kind", fault.kind.rawValue),
                ("region", Self.yamlString(fault.region)),
                ("duration", SpecDuration.format(fault.duration)),
            ]
            if let probability = fault.probability {
                pairs.append(("probability", Self.number(probability)))
            }
            if let extra = fault.extra { pairs.append(("extra", SpecDuration.format(extra))) }
            lines.append("  - " + Self.flow(pairs))
        }
        var checkPairs = [
            ("conservation", "\(checks.conservation)"), ("no_negative", "\(checks.noNegative)"),
            ("durability", "\(checks.durability)"),
            ("replica_convergence", "\(checks.replicaConvergence)"),
            ("cross_layer_identity", "\(checks.crossLayerIdentity)"),
        ]
        // Written only when given, so the spec text (and hash) of a spec without it is unchanged.
        if let crash = checks.crash { checkPairs.append(("crash", crash.rawValue)) }
        add("checks", Self.flow(checkPairs))
        add("tolerate_errors", "\(tolerateErrors)")
        // Written only when set, so the text (and hash) of every other spec is unchanged.
        if comparePgbench { add("compare_pgbench", "true") }
        lines.append(gate.isEmpty ? "gate: {}" : "gate:")
        for threshold in gate {
            var pairs: [(String, String)] = []
            if let relative = threshold.relativePercent {
                pairs.append(("relative", Self.number(relative) + "%"))
            }
            if let absolute = threshold.absolute { pairs.append(("absolute", Self.number(absolute))) }
            lines.append("  \(Self.yamlString(threshold.metric)): \(Self.flow(pairs))")
        }
        add(
            "report",
            Self.flow([
                ("directory", Self.yamlString(report.directory)),
                ("formats", "[" + report.formats.map(\.rawValue).joined(separator: ", ") + "]"),
            ])
        )
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{a: 1, b: 2}`.
    private static func flow(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// One value bare, several as a flow list.
    private static func axis(_ values: [String]) -> String {
        values.count == 1 ? values[0] : "[" + values.joined(separator: ", ") + "]"
    }

    /// An integral number without a fraction, any other in Swift's shortest exact form.
    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value))" }
        return "\(value)"
    }

    /// A string that reads back as the same string: plain when that is unambiguous, else
    /// double-quoted with escapes.
    static func yamlString(_ text: String) -> String {
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null"]
        let plain =
            !text.isEmpty && !reserved.contains(text.lowercased())
            && text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || $0 == "_" || $0 == "-"
            }
            && text.unicodeScalars.first.map { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
                == true
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    quoted += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}
