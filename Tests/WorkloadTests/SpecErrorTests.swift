import Testing
import WorkloadSpec

/// Every kind of bad spec names the file, the line and column of the offending node, its key
/// path, and a hint.
@Suite("Workload spec errors")
struct SpecErrorTests {
    /// Asserts the error's position, key path and code, and that its description names the file.
    private func expectError(
        _ yaml: String,
        line: Int,
        column: Int,
        keyPath: String,
        code: SpecError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> SpecError? {
        guard let error = specError(yaml, file: "specs/bad.yaml") else {
            Issue.record("the spec decoded without an error", sourceLocation: sourceLocation)
            return nil
        }
        #expect(error.file == "specs/bad.yaml", sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.column == column, "\(error)", sourceLocation: sourceLocation)
        #expect(error.keyPath == keyPath, "\(error)", sourceLocation: sourceLocation)
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(
            error.description.hasPrefix("specs/bad.yaml:\(line):\(column): error: "), "\(error)",
            sourceLocation: sourceLocation)
        return error
    }

    @Test("an unknown top-level key is named, with a did-you-mean")
    func unknownTopLevelKey() {
        let error = expectError(
            minimalSpec + "clinets: 4\n", line: 3, column: 1, keyPath: "clinets", code: .unknownKey)
        #expect(error?.hint == "did you mean 'clients'?")
        #expect(
            error?.description
                == "specs/bad.yaml:3:1: error: key 'clinets' is not a known key of the spec (hint: did you mean 'clients'?)"
        )
    }

    @Test("an unknown nested key names its full path")
    func unknownNestedKey() {
        let error = expectError(
            minimalSpec + "optimisations:\n  locality: true\n  batch_comit: true\n", line: 5, column: 3,
            keyPath: "optimisations.batch_comit", code: .unknownKey)
        #expect(error?.hint == "did you mean 'batch_commit'?")
        _ = expectError(
            minimalSpec + "regions:\n  - {name: a}\n  - {name: b, replica: 3}\n", line: 5, column: 15,
            keyPath: "regions[1].replica", code: .unknownKey)
        _ = expectError(
            minimalSpec + "retry: {max_attempts: 3, sleep: 1ms}\n", line: 3, column: 26,
            keyPath: "retry.sleep", code: .unknownKey)
    }

    @Test("a key far from every known key lists the known keys")
    func unknownKeyWithoutSuggestion() {
        let error = expectError(
            minimalSpec + "batch: {zzzzzzzz: 1}\n", line: 3, column: 9, keyPath: "batch.zzzzzzzz",
            code: .unknownKey)
        #expect(error?.hint == "known keys: size, window, close_when_idle")
    }

    @Test("a value of the wrong type")
    func wrongType() {
        _ = expectError("name: x\naccounts: ten\n", line: 2, column: 11, keyPath: "accounts", code: .wrongType)
        _ = expectError(
            minimalSpec + "overdraft: 1\n", line: 3, column: 12, keyPath: "overdraft", code: .wrongType)
        _ = expectError(
            minimalSpec + "regions: {name: a}\n", line: 3, column: 10, keyPath: "regions", code: .wrongType)
        _ = expectError(
            minimalSpec + "clients: \"16\"\n", line: 3, column: 10, keyPath: "clients", code: .wrongType)
        let error = expectError(
            minimalSpec + "seed:\n", line: 3, column: 6, keyPath: "seed", code: .wrongType)
        #expect(error?.hint == "give a value, or remove the key to use the default")
        _ = expectError(
            minimalSpec + "isolation: snapshot\n", line: 3, column: 12, keyPath: "isolation",
            code: .invalidValue)
        let typo = expectError(
            minimalSpec + "backend: postgre\n", line: 3, column: 10, keyPath: "backend", code: .invalidValue)
        #expect(typo?.hint == "did you mean 'postgres'?")
    }

    @Test("a missing required key points at the enclosing mapping")
    func missingKey() {
        _ = expectError("name: x\nclients: 4\n", line: 1, column: 1, keyPath: "accounts", code: .missingKey)
        _ = expectError("\n\naccounts: 4\n", line: 3, column: 1, keyPath: "name", code: .missingKey)
        _ = expectError(
            minimalSpec + "regions:\n  - {name: a}\n  - {replicas: 3}\n", line: 5, column: 5,
            keyPath: "regions[1].name", code: .missingKey)
        _ = expectError(
            minimalSpec + "faults:\n  - at: 1s\n    duration: 1s\n", line: 4, column: 5,
            keyPath: "faults[0].kind", code: .missingKey)
        _ = expectError(
            minimalSpec + "distribution: {theta: 0.5}\n", line: 3, column: 15, keyPath: "distribution.type",
            code: .missingKey)
        _ = expectError(
            minimalSpec + "gate:\n  tps: {}\n", line: 4, column: 8, keyPath: "gate.tps", code: .missingKey)
        _ = expectError(
            minimalSpec + "faults: [{at: 1s, kind: loss, duration: 1s}]\n", line: 3, column: 10,
            keyPath: "faults[0].probability", code: .missingKey)
    }

    @Test("negative and out-of-range numbers")
    func outOfRange() {
        let error = expectError(
            minimalSpec + "initial_balance: -5\n", line: 3, column: 18, keyPath: "initial_balance",
            code: .outOfRange)
        #expect(error?.message == "'initial_balance' must be at least 0, got -5")
        _ = expectError("name: x\naccounts: 1\n", line: 2, column: 11, keyPath: "accounts", code: .outOfRange)
        _ = expectError(
            minimalSpec + "regions:\n  - {name: a, replicas: 3}\n  - {name: b, replicas: 9}\n", line: 5,
            column: 25, keyPath: "regions[1].replicas", code: .outOfRange)
        _ = expectError(
            minimalSpec + "payload_bytes: 1025\n", line: 3, column: 16, keyPath: "payload_bytes",
            code: .outOfRange)
        _ = expectError(
            minimalSpec + "amount: {min: 0}\n", line: 3, column: 15, keyPath: "amount.min", code: .outOfRange)
        _ = expectError(
            minimalSpec + "amount: {min: 10, max: 5}\n", line: 3, column: 24, keyPath: "amount.max",
            code: .outOfRange)
        _ = expectError(
            minimalSpec + "distribution: {type: zipf, theta: 1}\n", line: 3, column: 35,
            keyPath: "distribution.theta", code: .outOfRange)
        _ = expectError(
            minimalSpec + "distribution: {type: hotspot, fraction: 0}\n", line: 3, column: 41,
            keyPath: "distribution.fraction", code: .outOfRange)
        _ = expectError(
            minimalSpec + "mix: {single_region: -1}\n", line: 3, column: 22, keyPath: "mix.single_region",
            code: .outOfRange)
        _ = expectError(minimalSpec + "rate: 0\n", line: 3, column: 7, keyPath: "rate", code: .outOfRange)
        _ = expectError(
            minimalSpec + "clients: [4, 0]\n", line: 3, column: 14, keyPath: "clients[1]", code: .outOfRange)
        _ = expectError(
            minimalSpec + "pool: {size: 4, min_idle: 5}\n", line: 3, column: 27, keyPath: "pool.min_idle",
            code: .outOfRange)
        _ = expectError(
            minimalSpec + "retry: {base_backoff: 1s, max_backoff: 10ms}\n", line: 3, column: 40,
            keyPath: "retry.max_backoff", code: .outOfRange)
        _ = expectError(
            minimalSpec + "duration: 5s\nfaults: [{at: 5s, kind: partition, duration: 1s}]\n", line: 4,
            column: 15, keyPath: "faults[0].at", code: .outOfRange)
        _ = expectError(
            minimalSpec + "gate: {tps: {relative: -3%}}\n", line: 3, column: 24, keyPath: "gate.tps.relative",
            code: .outOfRange)
        _ = expectError(
            minimalSpec + "lock_timeout: 0\n", line: 3, column: 15, keyPath: "lock_timeout", code: .outOfRange)
        _ = expectError(
            minimalSpec + "seed: -1\n", line: 3, column: 7, keyPath: "seed", code: .outOfRange)
        _ = expectError(
            "name: x\naccounts: 99999999999999999999\n", line: 2, column: 11, keyPath: "accounts",
            code: .outOfRange)
    }

    @Test("mix weights that sum to zero")
    func zeroMix() {
        let error = expectError(
            minimalSpec + "mix: {single_region: 0, global: 0}\n", line: 3, column: 6, keyPath: "mix",
            code: .invalidValue)
        #expect(error?.message == "the weights of 'mix' sum to zero")
    }

    @Test("cross-region transfers need two regions")
    func crossRegionNeedsTwoRegions() {
        _ = expectError(
            minimalSpec + "mix: {single_region: 1, cross_region: 1}\n", line: 3, column: 39,
            keyPath: "mix.cross_region", code: .invalidValue)
    }

    @Test("a region named in the RTT matrix or a fault must be declared")
    func undeclaredRegion() {
        let regions = minimalSpec + "regions: [{name: us-east}, {name: eu-west}]\n"
        let error = expectError(
            regions + "network:\n  rtt:\n    us-east: {eu-wset: 80ms}\n", line: 6, column: 15,
            keyPath: "network.rtt.us-east.eu-wset", code: .undeclaredRegion)
        #expect(error?.hint == "did you mean 'eu-west'?")
        _ = expectError(
            regions + "network:\n  rtt:\n    ap-south: {eu-west: 80ms}\n", line: 6, column: 5,
            keyPath: "network.rtt.ap-south", code: .undeclaredRegion)
        _ = expectError(
            regions + "network: {rtt: {us-east: {eu-west: 80ms}}}\n"
                + "faults:\n  - {at: 1s, kind: crash_node, region: mars, duration: 1s}\n",
            line: 6, column: 40, keyPath: "faults[0].region", code: .undeclaredRegion)
    }

    @Test("every pair of regions needs an RTT, given consistently")
    func rttMatrix() {
        let regions = minimalSpec + "regions: [{name: a}, {name: b}, {name: c}]\n"
        let error = expectError(
            regions + "network:\n  rtt: {a: {b: 10ms, c: 20ms}}\n", line: 5, column: 8, keyPath: "network.rtt",
            code: .missingKey)
        #expect(error?.message.contains("'b' and 'c'") == true)
        _ = expectError(regions, line: 3, column: 10, keyPath: "network.rtt", code: .missingKey)
        _ = expectError(
            regions + "network:\n  rtt: {a: {b: 10ms, c: 20ms}, b: {c: 5ms, a: 11ms}}\n", line: 5,
            column: 47, keyPath: "network.rtt.b.a", code: .invalidValue)
        _ = expectError(
            regions + "network:\n  rtt: {a: {a: 10ms}}\n", line: 5, column: 13, keyPath: "network.rtt.a.a",
            code: .invalidValue)
    }

    @Test("two regions with the same name")
    func duplicateRegion() {
        let error = expectError(
            minimalSpec + "regions:\n  - name: a\n  - name: b\n  - name: a\n", line: 6, column: 11,
            keyPath: "regions[2].name", code: .duplicateRegion)
        #expect(error?.hint == "first declared at line 4, column 11")
    }

    @Test("a duration that does not parse")
    func badDuration() {
        let bare = expectError(
            minimalSpec + "warmup: 250\n", line: 3, column: 9, keyPath: "warmup", code: .wrongType)
        #expect(bare?.hint == "write 250ms or 250s")
        _ = expectError(
            minimalSpec + "warmup: 5 seconds\n", line: 3, column: 9, keyPath: "warmup", code: .invalidValue)
        _ = expectError(
            minimalSpec + "network: {jitter: -1ms}\n", line: 3, column: 19, keyPath: "network.jitter",
            code: .invalidValue)
        _ = expectError(
            minimalSpec + "batch: {window: true}\n", line: 3, column: 17, keyPath: "batch.window",
            code: .wrongType)
    }

    @Test("clients and rate are exclusive, as are duration and transactions")
    func conflictingKeys() {
        let error = expectError(
            minimalSpec + "clients: 4\nthink_time: 0\nrate: 100\n", line: 5, column: 1, keyPath: "rate",
            code: .conflictingKeys)
        #expect(error?.message == "'clients' and 'rate' cannot both be given")
        _ = expectError(
            minimalSpec + "transactions: 10\nduration: 5s\n", line: 4, column: 1, keyPath: "duration",
            code: .conflictingKeys)
        _ = expectError(
            minimalSpec + "max_in_flight: 8\n", line: 3, column: 1, keyPath: "max_in_flight", code: .invalidValue)
        _ = expectError(
            minimalSpec + "faults: [{at: 1s, kind: crash_node, duration: 1s, extra: 5ms}]\n", line: 3,
            column: 51, keyPath: "faults[0].extra", code: .invalidValue)
    }

    @Test("a key given twice in one mapping")
    func duplicateKeys() {
        let top = expectError(
            "name: x\naccounts: 4\nclients: 1\nclients: 2\n", line: 4, column: 1, keyPath: "clients",
            code: .duplicateKey)
        #expect(top?.hint == "first given at line 3, column 1; keep one of them")
        _ = expectError(
            minimalSpec + "amount: {min: 1, min: 2}\n", line: 3, column: 18, keyPath: "amount.min",
            code: .duplicateKey)
        _ = expectError(
            minimalSpec + "regions:\n  - name: a\n    replicas: 1\n    replicas: 3\n", line: 6, column: 5,
            keyPath: "regions[0].replicas", code: .duplicateKey)
        _ = expectError(
            minimalSpec + "checks:\n  durability: true\n  durability: false\n  conservation: true\n"
                + "  conservation: false\n", line: 7, column: 3, keyPath: "checks.conservation",
            code: .duplicateKey)
        _ = expectError(
            minimalSpec + "gate: {tps: {relative: 1%}, x: {}, tps: {absolute: 1}, tps: {}}\n", line: 3,
            column: 36, keyPath: "gate.tps", code: .duplicateKey)
    }

    @Test("an empty file, or one with only comments")
    func emptyFile() {
        for text in ["", "# nothing here\n", "---\n", "\n\n"] {
            let error = expectError(text, line: 1, column: 1, keyPath: "", code: .emptyFile)
            #expect(error?.message == "the spec is empty")
        }
    }

    @Test("a file that is not YAML")
    func syntaxError() {
        let error = expectError(
            "name: x\naccounts: [1, 2\nclients: 4\n", line: 3, column: 8, keyPath: "", code: .syntax)
        #expect(error?.message.hasPrefix("the file is not valid YAML") == true)
        _ = expectError("name: x\n  accounts: 4\n", line: 2, column: 11, keyPath: "", code: .syntax)
        _ = expectError("name: x\naccounts: \"4\n", line: 3, column: 1, keyPath: "", code: .syntax)
        _ = expectError("name: x\n\taccounts: 4\n", line: 2, column: 1, keyPath: "", code: .syntax)
    }

    @Test("a top level that is not a mapping")
    func notAMapping() {
        _ = expectError("- name: x\n- accounts: 4\n", line: 1, column: 1, keyPath: "", code: .notAMapping)
        _ = expectError("\njust a sentence\n", line: 2, column: 1, keyPath: "", code: .notAMapping)
    }

    @Test("an empty list for a matrix axis")
    func emptyAxis() {
        let error = expectError(
            minimalSpec + "optimisations:\n  batch_commit: []\n", line: 4, column: 17,
            keyPath: "optimisations.batch_commit", code: .emptyAxis)
        #expect(error?.hint == "write a single value, or a list such as [false, true]")
        _ = expectError(minimalSpec + "clients: []\n", line: 3, column: 10, keyPath: "clients", code: .emptyAxis)
        _ = expectError(
            minimalSpec + "optimisations: {locality: [true, true]}\n", line: 3, column: 34,
            keyPath: "optimisations.locality[1]", code: .invalidValue)
    }

    @Test("names are restricted to a directory-safe alphabet")
    func badNames() {
        _ = expectError("name: My Workload\naccounts: 4\n", line: 1, column: 7, keyPath: "name", code: .invalidValue)
        _ = expectError(
            minimalSpec + "regions: [{name: US_East}]\n", line: 3, column: 18, keyPath: "regions[0].name",
            code: .invalidValue)
        _ = expectError(
            minimalSpec + "report: {formats: []}\n", line: 3, column: 19, keyPath: "report.formats",
            code: .invalidValue)
        _ = expectError(
            minimalSpec + "report: {formats: [md, pdf]}\n", line: 3, column: 24, keyPath: "report.formats[1]",
            code: .invalidValue)
    }

    @Test("load names an unreadable file")
    func unreadableFile() {
        #expect(throws: SpecError.self) { try WorkloadSpec.load(path: "/nonexistent/spec.yaml") }
        do {
            _ = try WorkloadSpec.load(path: "/nonexistent/spec.yaml")
        } catch {
            #expect(error.code == .unreadableFile)
            #expect(error.description.hasPrefix("/nonexistent/spec.yaml: error: cannot read the spec"))
        }
    }
}
