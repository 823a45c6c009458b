/// Decodes a composed spec tree into a ``WorkloadSpec`` by walking it key by key, so that
/// every error names the exact node. Defaults are those of ``WorkloadSpec/init(name:accounts:)``.
struct SpecDecoder {
    /// The keys of the top-level mapping, in canonical order.
    static let topLevelKeys = [
        "name", "description", "backend", "seed", "accounts", "initial_balance", "overdraft",
        "payload_bytes", "amount", "distribution", "regions", "network", "mix", "clients", "rate",
        "max_in_flight", "think_time", "warmup", "duration", "transactions", "isolation",
        "timestamps", "durability", "optimisations", "batch", "pool", "retry", "lock_timeout",
        "faults", "checks", "tolerate_errors", "compare_pgbench", "gate", "report",
    ]

    typealias Limits = WorkloadSpec.Limits

    let read: SpecReader

    init(file: String) {
        read = SpecReader(file: file)
    }

    func decode(_ root: SpecNode) throws(SpecError) -> WorkloadSpec {
        let top = try read.mapping(root, "", known: Self.topLevelKeys)
        let name = try read.name(
            read.required(top, "name", hint: "add 'name: my-workload' at the top").value, "name"
        )
        let accounts = try read.int(
            read.required(top, "accounts", hint: "add 'accounts: 10000'").value, "accounts",
            in: 2...Limits.accounts
        )
        var spec = WorkloadSpec(name: name, accounts: accounts)
        if let entry = top["description"] {
            spec.description = try read.string(entry.value, "description")
        }
        if let entry = top["backend"] {
            spec.backend = try read.choice(entry.value, "backend")
        }
        if let entry = top["seed"] { spec.seed = try read.uint64(entry.value, "seed") }
        if let entry = top["initial_balance"] {
            spec.initialBalance = try read.int64(
                entry.value, "initial_balance", in: 0...Int64.max
            )
            let (_, overflow) = spec.initialBalance.multipliedReportingOverflow(
                by: Int64(accounts)
            )
            if overflow {
                throw read.error(
                    .outOfRange, at: entry.value.origin, "initial_balance",
                    "'initial_balance' times 'accounts' (\(accounts)) overflows a 64-bit total",
                    hint: "the conservation check sums every balance"
                )
            }
        }
        if let entry = top["overdraft"] { spec.overdraft = try read.bool(entry.value, "overdraft") }
        if let entry = top["payload_bytes"] {
            spec.payloadBytes = try read.int(
                entry.value, "payload_bytes", in: 0...Limits.payloadBytes
            )
        }
        if let entry = top["amount"] { spec.amount = try amount(entry.value) }
        if let entry = top["distribution"] { spec.distribution = try distribution(entry.value) }
        if let entry = top["regions"] { spec.regions = try regions(entry.value) }
        spec.network = try network(top, regions: spec.regions)
        if let entry = top["mix"] { spec.mix = try mix(entry.value, regions: spec.regions) }
        spec.load = try load(top)
        if let entry = top["think_time"] {
            spec.thinkTime = try read.duration(entry.value, "think_time")
        }
        if let entry = top["warmup"] { spec.warmup = try read.duration(entry.value, "warmup") }
        spec.length = try length(top)
        try checkRunnable(spec, top)
        if let entry = top["isolation"] { spec.isolation = try read.choice(entry.value, "isolation") }
        if let entry = top["timestamps"] {
            spec.timestamps = try read.choice(entry.value, "timestamps")
        }
        if let entry = top["durability"] {
            spec.durability = try read.choice(entry.value, "durability")
        }
        if let entry = top["optimisations"] { spec.optimisations = try optimisations(entry.value) }
        if let entry = top["batch"] { spec.batch = try batch(entry.value) }
        if let entry = top["pool"] { spec.pool = try pool(entry.value) }
        if let entry = top["retry"] { spec.retry = try retry(entry.value) }
        if let entry = top["lock_timeout"] {
            spec.lockTimeout = try read.duration(entry.value, "lock_timeout", positive: true)
        }
        if let entry = top["faults"] {
            spec.faults = try faults(entry.value, regions: spec.regions, length: spec.length)
        }
        if let entry = top["checks"] { spec.checks = try checks(entry.value) }
        if let entry = top["tolerate_errors"] {
            spec.tolerateErrors = try read.bool(entry.value, "tolerate_errors")
        }
        if let entry = top["compare_pgbench"] {
            spec.comparePgbench = try read.bool(entry.value, "compare_pgbench")
            if spec.comparePgbench && spec.backend != .postgres {
                throw read.error(
                    .invalidValue, at: entry.value.origin, "compare_pgbench",
                    "compare_pgbench runs pgbench against the postgres backend's server; the spec's backend is "
                        + "'\(spec.backend.rawValue)'",
                    hint: "set backend: postgres, or remove compare_pgbench")
            }
        }
        if let entry = top["gate"] { spec.gate = try gate(entry.value) }
        if let entry = top["report"] { spec.report = try report(entry.value) }
        return spec
    }

    // MARK: - Accounts and amounts

    private func amount(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.AmountRange {
        let map = try read.mapping(node, "amount", known: ["min", "max"])
        var amount = WorkloadSpec.AmountRange()
        if let entry = map["min"] {
            amount.min = try read.int64(entry.value, "amount.min", in: 1...Int64.max)
        }
        if let entry = map["max"] {
            amount.max = try read.int64(entry.value, "amount.max", in: 1...Int64.max)
        }
        if amount.max < amount.min {
            let origin = map["max"]?.value.origin ?? map["min"]?.value.origin ?? node.origin
            throw read.error(
                .outOfRange, at: origin, map["max"] != nil ? "amount.max" : "amount.min",
                "'amount.max' (\(amount.max)) must be at least 'amount.min' (\(amount.min))"
            )
        }
        return amount
    }

    private func distribution(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.KeyDistribution {
        let path = "distribution"
        if case .scalar(let text, let type) = node.kind, type != .null {
            guard text == "uniform" else {
                let hint =
                    text == "zipf" || text == "hotspot"
                    ? "write {type: zipf, theta: 0.99} or {type: hotspot, fraction: 0.01, probability: 0.9}"
                    : "write uniform, {type: zipf, theta: 0.99} or {type: hotspot, fraction: 0.01, probability: 0.9}"
                throw read.error(
                    .invalidValue, at: node.origin, path,
                    "'distribution' must be uniform, zipf or hotspot, found \(node.summary)",
                    hint: hint
                )
            }
            return .uniform
        }
        let map = try read.mapping(node, path, known: ["type", "theta", "fraction", "probability"])
        let typeEntry = try read.required(map, "type", hint: "write type: uniform, zipf or hotspot")
        enum Kind: String, CaseIterable { case uniform, zipf, hotspot }
        let kind: Kind = try read.choice(typeEntry.value, "distribution.type")
        let applicable: [String] =
            switch kind {
            case .uniform: ["type"]
            case .zipf: ["type", "theta"]
            case .hotspot: ["type", "fraction", "probability"]
            }
        for entry in map.entries where !applicable.contains(entry.key) {
            throw read.error(
                .unknownKey, at: entry.keyOrigin, map.path(entry.key),
                "key '\(map.path(entry.key))' does not apply to a \(kind.rawValue) distribution",
                hint: "\(kind.rawValue) takes: \(applicable.joined(separator: ", "))"
            )
        }
        let unitInterval = "in (0, 1]"
        switch kind {
        case .uniform:
            return .uniform
        case .zipf:
            var theta = 0.99
            if let entry = map["theta"] {
                theta = try read.number(
                    entry.value, "distribution.theta", "in (0, 5] and not 1"
                ) { $0 > 0 && $0 <= Limits.zipfTheta && $0 != 1 }
            }
            return .zipf(theta: theta)
        case .hotspot:
            var fraction = 0.01
            var probability = 0.9
            if let entry = map["fraction"] {
                fraction = try read.number(entry.value, "distribution.fraction", unitInterval) {
                    $0 > 0 && $0 <= 1
                }
            }
            if let entry = map["probability"] {
                probability = try read.number(
                    entry.value, "distribution.probability", unitInterval
                ) { $0 > 0 && $0 <= 1 }
            }
            return .hotspot(fraction: fraction, probability: probability)
        }
    }

    // MARK: - Regions and network

    private func regions(_ node: SpecNode) throws(SpecError) -> [WorkloadSpec.Region] {
        let elements = try read.sequence(node, "regions")
        guard !elements.isEmpty else {
            throw read.error(
                .invalidValue, at: node.origin, "regions", "'regions' must declare at least one region",
                hint: "write regions: [{name: local, replicas: 1}], or remove the key"
            )
        }
        guard elements.count <= Limits.regions else {
            throw read.error(
                .outOfRange, at: node.origin, "regions",
                "'regions' declares \(elements.count) regions, more than \(Limits.regions)"
            )
        }
        var regions: [WorkloadSpec.Region] = []
        var firstOrigins: [String: SpecOrigin] = [:]
        for (index, element) in elements.enumerated() {
            let path = SpecPath.element("regions", index)
            let map = try read.mapping(element, path, known: ["name", "replicas", "dsn"])
            let nameEntry = try read.required(map, "name", hint: "add name: us-east")
            let name = try read.name(nameEntry.value, map.path("name"))
            if let first = firstOrigins[name] {
                var hint = "region names must be unique"
                if case .file(let line, let column) = first {
                    hint = "first declared at line \(line), column \(column)"
                }
                throw read.error(
                    .duplicateRegion, at: nameEntry.value.origin, map.path("name"),
                    "region '\(name)' is declared twice", hint: hint
                )
            }
            firstOrigins[name] = nameEntry.value.origin
            var region = WorkloadSpec.Region(name: name)
            if let entry = map["replicas"] {
                region.replicas = try read.int(
                    entry.value, map.path("replicas"), in: 1...Limits.replicas
                )
            }
            if let entry = map["dsn"] {
                let text = try read.string(entry.value, map.path("dsn"))
                do {
                    region.dsn = try PostgresDSN(parsing: text)
                } catch {
                    throw read.error(
                        .invalidValue, at: entry.value.origin, map.path("dsn"),
                        "region '\(name)': dsn '\(text)' cannot be used: \(error.reason)",
                        hint: "write dsn: postgres://user@host:5432/database")
                }
            }
            regions.append(region)
        }
        if regions.contains(where: { $0.dsn != nil }), let missing = regions.first(where: { $0.dsn == nil }) {
            throw read.error(
                .missingKey, at: node.origin, "regions",
                "region '\(missing.name)' has no dsn while other regions have one",
                hint: "give every region a dsn, or none (then layerbench run starts local servers)")
        }
        return regions
    }

    /// Checks that `name` is a declared region.
    private func declared(
        _ name: String,
        at origin: SpecOrigin,
        _ path: String,
        regions: [WorkloadSpec.Region]
    ) throws(SpecError) {
        let names = regions.map(\.name)
        guard names.contains(name) else {
            let near = SpecReader.nearest(to: name, among: names)
            throw read.error(
                .undeclaredRegion, at: origin, path,
                "region '\(name)' is not declared in 'regions'",
                hint: near.map { "did you mean '\($0)'?" }
                    ?? "declared regions: \(names.joined(separator: ", "))"
            )
        }
    }

    private func network(_ top: SpecReader.Mapping, regions: [WorkloadSpec.Region]) throws(SpecError)
        -> WorkloadSpec.Network
    {
        var network = WorkloadSpec.Network()
        var map: SpecReader.Mapping?
        if let entry = top["network"] {
            map = try read.mapping(entry.value, "network", known: ["intra_region_rtt", "jitter", "rtt"])
        }
        if let entry = map?["intra_region_rtt"] {
            network.intraRegionRTT = try read.duration(entry.value, "network.intra_region_rtt")
        }
        if let entry = map?["jitter"] {
            network.jitter = try read.duration(entry.value, "network.jitter")
        }
        var origins: [WorkloadSpec.RegionPair: SpecOrigin] = [:]
        if let entry = map?["rtt"] {
            let matrix = try read.openMapping(entry.value, "network.rtt")
            for row in matrix.entries {
                let rowPath = matrix.path(row.key)
                try declared(row.key, at: row.keyOrigin, rowPath, regions: regions)
                let columns = try read.openMapping(row.value, rowPath)
                for cell in columns.entries {
                    let cellPath = columns.path(cell.key)
                    try declared(cell.key, at: cell.keyOrigin, cellPath, regions: regions)
                    guard cell.key != row.key else {
                        throw read.error(
                            .invalidValue, at: cell.keyOrigin, cellPath,
                            "'\(cellPath)' gives the RTT of region '\(row.key)' to itself",
                            hint: "use network.intra_region_rtt"
                        )
                    }
                    let rtt = try read.duration(cell.value, cellPath)
                    let pair = WorkloadSpec.RegionPair(row.key, cell.key)
                    if let existing = network.rtt[pair], existing != rtt,
                        let firstOrigin = origins[pair]
                    {
                        // An override wins over the file; two file entries must agree.
                        switch (firstOrigin, cell.value.origin) {
                        case (.file, .override):
                            break
                        case (.override, .file):
                            continue
                        default:
                            throw read.error(
                                .invalidValue, at: cell.value.origin, cellPath,
                                "'\(cellPath)' is \(SpecDuration.format(rtt)) but the RTT of '\(cell.key)' to '\(row.key)' is \(SpecDuration.format(existing))",
                                hint: "the matrix is symmetric: give each pair once"
                            )
                        }
                    }
                    network.rtt[pair] = rtt
                    origins[pair] = cell.value.origin
                }
            }
        }
        for (index, a) in regions.enumerated() {
            for b in regions[(index + 1)...] where network.rtt[.init(a.name, b.name)] == nil {
                let origin =
                    map?["rtt"]?.value.origin ?? top["network"]?.value.origin
                    ?? top["regions"]?.value.origin ?? top.node.origin
                throw read.error(
                    .missingKey, at: origin, "network.rtt",
                    "'network.rtt' gives no RTT between regions '\(a.name)' and '\(b.name)'",
                    hint: "add network.rtt.\(a.name).\(b.name), e.g. 80ms"
                )
            }
        }
        return network
    }

    private func mix(_ node: SpecNode, regions: [WorkloadSpec.Region]) throws(SpecError)
        -> WorkloadSpec.TransferMix
    {
        let map = try read.mapping(node, "mix", known: TransferClass.allCases.map(\.rawValue))
        var mix = WorkloadSpec.TransferMix(singleRegion: 0, crossRegion: 0, global: 0)
        for transferClass in TransferClass.allCases {
            guard let entry = map[transferClass.rawValue] else { continue }
            let path = map.path(transferClass.rawValue)
            let weight = try read.number(entry.value, path, "0 or more") { $0 >= 0 }
            switch transferClass {
            case .singleRegion: mix.singleRegion = weight
            case .crossRegion: mix.crossRegion = weight
            case .global: mix.global = weight
            }
            if transferClass != .singleRegion, weight > 0, regions.count < 2 {
                throw read.error(
                    .invalidValue, at: entry.value.origin, path,
                    "'\(path)' needs at least two regions, but 'regions' declares \(regions.count)",
                    hint: "declare a second region, or set \(path): 0"
                )
            }
        }
        guard mix.singleRegion + mix.crossRegion + mix.global > 0 else {
            throw read.error(
                .invalidValue, at: node.origin, "mix", "the weights of 'mix' sum to zero",
                hint: "give at least one class a positive weight, e.g. single_region: 1"
            )
        }
        return mix
    }

    // MARK: - Load and length

    /// Refuses a load that cannot run well in the run's length: a think time longer than the
    /// duration (each client would wait past the end), a rate that offers less than one transfer
    /// in the duration, or one that would need longer than ``SpecDuration/maximum`` for a
    /// transaction count.
    private func checkRunnable(_ spec: WorkloadSpec, _ top: SpecReader.Mapping) throws(SpecError) {
        if case .duration(let duration) = spec.length, spec.thinkTime > duration, let entry = top["think_time"] {
            throw read.error(
                .outOfRange, at: entry.value.origin, "think_time",
                "'think_time' (\(SpecDuration.format(spec.thinkTime))) is longer than the run's duration "
                    + "(\(SpecDuration.format(duration))): each client would measure at most one transfer",
                hint: "shorten think_time, or lengthen duration")
        }
        guard case .openLoop(let rate, _) = spec.load, let entry = top["rate"] else { return }
        switch spec.length {
        case .duration(let duration):
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            if rate * seconds < 1 {
                throw read.error(
                    .outOfRange, at: entry.value.origin, "rate",
                    "'rate' \(rate)/s offers less than one transfer in the run's \(SpecDuration.format(duration))",
                    hint: "raise rate to at least \(1 / seconds)/s, or lengthen duration")
            }
        case .transactions(let total):
            let maximum = Double(SpecDuration.maximum.components.seconds)
            if Double(total) / rate > maximum {
                throw read.error(
                    .outOfRange, at: entry.value.origin, "rate",
                    "'rate' \(rate)/s needs more than \(SpecDuration.format(SpecDuration.maximum)) for \(total) "
                        + "transactions",
                    hint: "raise rate, or measure fewer transactions")
            }
        }
    }

    /// The entry of two mutually exclusive keys that comes later (an override counts as last).
    private func later(_ a: SpecNode.Entry, _ b: SpecNode.Entry) -> SpecNode.Entry {
        switch (a.keyOrigin, b.keyOrigin) {
        case (.override, _): return a
        case (_, .override): return b
        case (.file(let la, let ca), .file(let lb, let cb)): return (la, ca) > (lb, cb) ? a : b
        }
    }

    private func load(_ top: SpecReader.Mapping) throws(SpecError) -> WorkloadSpec.Load {
        if let clients = top["clients"], let rate = top["rate"] {
            let second = later(clients, rate)
            throw read.error(
                .conflictingKeys, at: second.keyOrigin, second.key,
                "'clients' and 'rate' cannot both be given",
                hint: "clients runs a closed loop, rate an open loop; remove one"
            )
        }
        if let rateEntry = top["rate"] {
            let rate = try read.number(
                rateEntry.value, "rate", "above 0 and at most \(Int(Limits.rate)) transfers/s"
            ) { $0 > 0 && $0 <= Limits.rate }
            var maxInFlight = 1024
            if let entry = top["max_in_flight"] {
                maxInFlight = try read.int(entry.value, "max_in_flight", in: 1...Limits.maxInFlight)
            }
            return .openLoop(rate: rate, maxInFlight: maxInFlight)
        }
        if let entry = top["max_in_flight"] {
            throw read.error(
                .invalidValue, at: entry.keyOrigin, "max_in_flight",
                "'max_in_flight' applies only to an open loop ('rate')",
                hint: "remove it, or give 'rate' instead of 'clients'"
            )
        }
        guard let entry = top["clients"] else { return .closedLoop(clients: [16]) }
        let clients = try read.axis(entry.value, "clients") { (node, path) throws(SpecError) in
            try read.int(node, path, in: 1...Limits.clients)
        }
        return .closedLoop(clients: clients)
    }

    private func length(_ top: SpecReader.Mapping) throws(SpecError) -> WorkloadSpec.RunLength {
        if let duration = top["duration"], let transactions = top["transactions"] {
            let second = later(duration, transactions)
            throw read.error(
                .conflictingKeys, at: second.keyOrigin, second.key,
                "'duration' and 'transactions' cannot both be given",
                hint: "a run lasts either a time or a number of transfers; remove one"
            )
        }
        if let entry = top["transactions"] {
            return .transactions(
                try read.int(entry.value, "transactions", in: 1...Limits.transactions)
            )
        }
        if let entry = top["duration"] {
            return .duration(try read.duration(entry.value, "duration", positive: true))
        }
        return .duration(.seconds(10))
    }

    // MARK: - Engine settings

    private func optimisations(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Optimisations {
        let map = try read.mapping(
            node, "optimisations", known: ["locality", "batch_commit", "async_replication"]
        )
        var optimisations = WorkloadSpec.Optimisations()
        let flag: (SpecNode, String) throws(SpecError) -> Bool = { (node, path) throws(SpecError) in
            try read.bool(node, path)
        }
        if let entry = map["locality"] {
            optimisations.locality = try read.axis(entry.value, map.path("locality"), element: flag)
        }
        if let entry = map["batch_commit"] {
            optimisations.batchCommit = try read.axis(
                entry.value, map.path("batch_commit"), element: flag
            )
        }
        if let entry = map["async_replication"] {
            optimisations.asyncReplication = try read.axis(
                entry.value, map.path("async_replication"), element: flag
            )
        }
        return optimisations
    }

    private func batch(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Batch {
        let map = try read.mapping(node, "batch", known: ["size", "window", "close_when_idle"])
        var batch = WorkloadSpec.Batch()
        if let entry = map["size"] {
            batch.size = try read.int(entry.value, "batch.size", in: 1...Limits.batchSize)
        }
        if let entry = map["window"] { batch.window = try read.duration(entry.value, "batch.window") }
        if let entry = map["close_when_idle"] {
            batch.closeWhenIdle = try read.bool(entry.value, "batch.close_when_idle")
        }
        return batch
    }

    private func pool(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Pool {
        let map = try read.mapping(
            node, "pool", known: ["size", "min_idle", "acquire_timeout", "max_lifetime", "idle_timeout"]
        )
        var pool = WorkloadSpec.Pool()
        if let entry = map["size"] {
            pool.size = try read.int(entry.value, "pool.size", in: 1...Limits.poolSize)
        }
        if let entry = map["min_idle"] {
            pool.minIdle = try read.int(entry.value, "pool.min_idle", in: 0...Limits.poolSize)
            if pool.minIdle > pool.size {
                throw read.error(
                    .outOfRange, at: entry.value.origin, "pool.min_idle",
                    "'pool.min_idle' (\(pool.minIdle)) must be at most 'pool.size' (\(pool.size))"
                )
            }
        }
        if let entry = map["acquire_timeout"] {
            pool.acquireTimeout = try read.duration(
                entry.value, "pool.acquire_timeout", positive: true
            )
        }
        if let entry = map["max_lifetime"] {
            pool.maxLifetime = try read.duration(entry.value, "pool.max_lifetime", positive: true)
        }
        if let entry = map["idle_timeout"] {
            pool.idleTimeout = try read.duration(entry.value, "pool.idle_timeout", positive: true)
        }
        return pool
    }

    private func retry(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Retry {
        let map = try read.mapping(
            node, "retry", known: ["max_attempts", "base_backoff", "max_backoff", "max_total"]
        )
        var retry = WorkloadSpec.Retry()
        if let entry = map["max_attempts"] {
            retry.maxAttempts = try read.int(
                entry.value, "retry.max_attempts", in: 1...Limits.retryAttempts
            )
        }
        if let entry = map["base_backoff"] {
            retry.baseBackoff = try read.duration(entry.value, "retry.base_backoff")
        }
        if let entry = map["max_backoff"] {
            retry.maxBackoff = try read.duration(entry.value, "retry.max_backoff")
        }
        if let entry = map["max_total"] {
            retry.maxTotal = try read.duration(entry.value, "retry.max_total", positive: true)
        }
        if retry.maxBackoff < retry.baseBackoff {
            let origin = map["max_backoff"]?.value.origin ?? map["base_backoff"]?.value.origin
            throw read.error(
                .outOfRange, at: origin ?? node.origin,
                map["max_backoff"] != nil ? "retry.max_backoff" : "retry.base_backoff",
                "'retry.max_backoff' (\(SpecDuration.format(retry.maxBackoff))) must be at least 'retry.base_backoff' (\(SpecDuration.format(retry.baseBackoff)))"
            )
        }
        return retry
    }

    // MARK: - Faults, checks, gate, report

    private func faults(
        _ node: SpecNode,
        regions: [WorkloadSpec.Region],
        length: WorkloadSpec.RunLength
    ) throws(SpecError) -> [WorkloadSpec.Fault] {
        let elements = try read.sequence(node, "faults")
        guard elements.count <= Limits.faults else {
            throw read.error(
                .outOfRange, at: node.origin, "faults",
                "'faults' lists \(elements.count) faults, more than \(Limits.faults)"
            )
        }
        var faults: [WorkloadSpec.Fault] = []
        for (index, element) in elements.enumerated() {
            let path = SpecPath.element("faults", index)
            let map = try read.mapping(
                element, path, known: ["at", "kind", "region", "duration", "probability", "extra"]
            )
            let kind: WorkloadSpec.Fault.Kind = try read.choice(
                read.required(map, "kind", hint: "add kind: crash_node").value, map.path("kind")
            )
            let atEntry = try read.required(map, "at", hint: "add at: 5s")
            let at = try read.duration(atEntry.value, map.path("at"))
            if case .duration(let runDuration) = length, at >= runDuration {
                throw read.error(
                    .outOfRange, at: atEntry.value.origin, map.path("at"),
                    "'\(map.path("at"))' (\(SpecDuration.format(at))) is not before the end of the run (duration \(SpecDuration.format(runDuration)))",
                    hint: "'at' counts from the start of the measured phase"
                )
            }
            let duration = try read.duration(
                read.required(map, "duration", hint: "add duration: 2s").value,
                map.path("duration"), positive: true
            )
            let region: String
            if let entry = map["region"] {
                region = try read.name(entry.value, map.path("region"))
                try declared(region, at: entry.value.origin, map.path("region"), regions: regions)
            } else if regions.count == 1, let only = regions.first {
                region = only.name
            } else {
                _ = try read.required(map, "region", hint: "name one of the declared regions")
                region = ""
            }
            var fault = WorkloadSpec.Fault(at: at, kind: kind, region: region, duration: duration)
            if let entry = map["probability"] {
                guard kind == .loss else {
                    throw notApplicable(entry, map.path("probability"), kind: kind, to: "loss")
                }
                fault.probability = try read.number(entry.value, map.path("probability"), "in (0, 1]") {
                    $0 > 0 && $0 <= 1
                }
            } else if kind == .loss {
                _ = try read.required(map, "probability", hint: "add probability: 0.1")
            }
            if let entry = map["extra"] {
                guard kind == .delay || kind == .clockSkew else {
                    throw notApplicable(entry, map.path("extra"), kind: kind, to: "delay and clock_skew")
                }
                fault.extra = try read.duration(entry.value, map.path("extra"), positive: true)
            } else if kind == .delay || kind == .clockSkew {
                _ = try read.required(map, "extra", hint: "add extra: 50ms")
            }
            faults.append(fault)
        }
        return faults
    }

    private func notApplicable(
        _ entry: SpecNode.Entry,
        _ path: String,
        kind: WorkloadSpec.Fault.Kind,
        to kinds: String
    ) -> SpecError {
        read.error(
            .invalidValue, at: entry.keyOrigin, path,
            "'\(path)' does not apply to a \(kind.rawValue) fault", hint: "it applies only to \(kinds)"
        )
    }

    private func checks(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Checks {
        let keys = [
            "conservation", "no_negative", "durability", "replica_convergence",
            "cross_layer_identity", "crash",
        ]
        let map = try read.mapping(node, "checks", known: keys)
        var checks = WorkloadSpec.Checks()
        for entry in map.entries {
            if entry.key == "crash" {
                checks.crash = try read.choice(entry.value, map.path("crash"))
                continue
            }
            let value = try read.bool(entry.value, map.path(entry.key))
            switch entry.key {
            case "conservation": checks.conservation = value
            case "no_negative": checks.noNegative = value
            case "durability": checks.durability = value
            case "replica_convergence": checks.replicaConvergence = value
            default: checks.crossLayerIdentity = value
            }
        }
        return checks
    }

    func gate(_ node: SpecNode) throws(SpecError) -> [WorkloadSpec.GateThreshold] {
        let metrics = try read.openMapping(node, "gate")
        var thresholds: [WorkloadSpec.GateThreshold] = []
        for metric in metrics.entries {
            let path = metrics.path(metric.key)
            guard !metric.key.isEmpty else {
                throw read.error(.invalidValue, at: metric.keyOrigin, path, "a metric name of 'gate' is empty")
            }
            let map = try read.mapping(metric.value, path, known: ["relative", "absolute"])
            var threshold = WorkloadSpec.GateThreshold(metric: metric.key)
            if let entry = map["relative"] {
                threshold.relativePercent = try percent(entry.value, map.path("relative"))
            }
            if let entry = map["absolute"] {
                threshold.absolute = try read.number(entry.value, map.path("absolute"), "0 or more") { $0 >= 0 }
            }
            if threshold.relativePercent == nil, threshold.absolute == nil {
                throw read.error(
                    .missingKey, at: metric.value.origin, path,
                    "'\(path)' must give 'relative', 'absolute' or both",
                    hint: "e.g. {relative: 10%, absolute: 0.05}"
                )
            }
            thresholds.append(threshold)
        }
        return thresholds
    }

    /// A percentage: `10%`, or a bare number meaning percent.
    private func percent(_ node: SpecNode, _ path: String) throws(SpecError) -> Double {
        if case .scalar(let text, let type) = node.kind, type == .string || type == .other {
            let trimmed = text.specTrimmingSpaces()
            guard trimmed.hasSuffix("%"), let value = Double(trimmed.dropLast().specTrimmingSpaces()),
                value.isFinite
            else {
                throw read.error(
                    .invalidValue, at: node.origin, path,
                    "'\(path)' must be a percentage such as 10% or 2.5%, found '\(text)'"
                )
            }
            guard value >= 0 else {
                throw read.error(.outOfRange, at: node.origin, path, "'\(path)' must be 0% or more, got \(text)")
            }
            return value
        }
        return try read.number(node, path, "0 or more (percent)") { $0 >= 0 }
    }

    private func report(_ node: SpecNode) throws(SpecError) -> WorkloadSpec.Report {
        let map = try read.mapping(node, "report", known: ["directory", "formats"])
        var report = WorkloadSpec.Report()
        if let entry = map["directory"] {
            report.directory = try read.string(entry.value, "report.directory")
            if report.directory.isEmpty {
                throw read.error(
                    .invalidValue, at: entry.value.origin, "report.directory", "'report.directory' is empty")
            }
        }
        if let entry = map["formats"] {
            let elements = try read.sequence(entry.value, "report.formats")
            guard !elements.isEmpty else {
                throw read.error(
                    .invalidValue, at: entry.value.origin, "report.formats",
                    "'report.formats' must name at least one format", hint: "e.g. [md, csv, json]"
                )
            }
            var formats: [WorkloadSpec.ReportFormat] = []
            for (index, element) in elements.enumerated() {
                let path = SpecPath.element("report.formats", index)
                let format: WorkloadSpec.ReportFormat = try read.choice(element, path)
                if formats.contains(format) {
                    throw read.error(
                        .invalidValue, at: element.origin, path, "'\(path)' repeats the format \(format.rawValue)")
                }
                formats.append(format)
            }
            report.formats = formats
        }
        return report
    }
}
