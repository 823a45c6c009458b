import Foundation
import Testing
import Workload
import WorkloadSpec

/// The spec fixture `name` under Fixtures/.
func fixturePath(_ name: String) throws -> String {
    try #require(Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures")).path
}

/// Loads a fixture and returns the error it throws, or nil.
func fixtureError(_ name: String, overrides: [String] = [], unsets: [String] = []) throws -> SpecError? {
    let path = try fixturePath(name)
    do {
        _ = try WorkloadSpec.load(path: path, overrides: overrides, unsets: unsets)
        return nil
    } catch {
        return error
    }
}

/// Hostile and awkward spec input (issue 8, items 5 to 8): every refusal names a position.
@Suite("Spec hardening")
struct SpecHardeningTests {
    @Test("a YAML alias bomb is refused at a position, quickly, instead of being expanded")
    func aliasBomb() throws {
        let error = try #require(try fixtureError("alias-bomb"))
        #expect(error.code == .tooComplex)
        #expect(error.line > 0)
        #expect(error.column > 0)
        #expect(error.description.contains("alias"))
    }

    @Test("a few honest aliases still work")
    func honestAliases() throws {
        let spec = try WorkloadSpec.decode(
            yaml: "name: a\naccounts: 100\npool: &p {size: 8}\nretry: {max_attempts: 3}\n", file: "a.yaml")
        #expect(spec.pool.size == 8)
        let aliased = try WorkloadSpec.decode(
            yaml: "name: a\naccounts: &n 100\ntransactions: *n\n", file: "a.yaml")
        #expect(aliased.length == .transactions(100))
    }

    @Test("non-UTF-8 input names the byte offset, line and column of the first invalid byte")
    func notUTF8() throws {
        let error = try #require(try fixtureError("not-utf8"))
        #expect(error.line == 3)
        #expect(error.column == 18)
        #expect(error.description.contains("byte offset 44"), "\(error.description)")
        #expect(!error.description.contains("correct format"))
    }

    @Test("an error at the end of a file without a final newline names a line of the file")
    func noFinalNewline() throws {
        let error = try #require(try fixtureError("no-final-newline"))
        #expect(error.line == 3, "\(error.description)")
    }

    @Test("error messages escape control bytes instead of echoing them")
    func controlBytesEscaped() throws {
        let error = try #require(try fixtureError("control-bytes"))
        #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        #expect(error.description.contains("\\u{1B}"), "\(error.description)")
        let nul = try #require(specError("name: n\naccounts: 100\nclients: \"a\\0b\"\n"))
        #expect(!nul.description.unicodeScalars.contains { $0.value == 0 })
    }

    @Test("the nesting limit is described, not named after a C function")
    func nestingLimit() throws {
        let error = try #require(try fixtureError("deep-nesting"))
        #expect(!error.description.contains("yaml_set_max_nest_level"), "\(error.description)")
        #expect(error.description.contains("1000"))
        #expect(error.line == 3)
    }

    @Test("global transfers with one region are refused like cross-region ones")
    func globalNeedsTwoRegions() throws {
        let error = try #require(try fixtureError("global-one-region"))
        #expect(error.keyPath == "mix.global")
        #expect(error.line == 5)
    }

    @Test("a think time longer than the run's duration is refused")
    func thinkTimePastDuration() throws {
        let error = try #require(try fixtureError("think-time-past-duration"))
        #expect(error.keyPath == "think_time")
        #expect(error.line == 5)
    }

    @Test("a rate that cannot offer one transfer in the run is refused")
    func rateTooLow() throws {
        let error = try #require(try fixtureError("rate-too-low"))
        #expect(error.keyPath == "rate")
        #expect(error.line == 3)
    }

    @Test("--unset removes a key, so a closed-loop spec can switch to rate or transactions")
    func unsetKey() throws {
        #expect(try fixtureError("closed-loop", overrides: ["rate=100"]) != nil)
        let path = try fixturePath("closed-loop")
        let open = try WorkloadSpec.load(path: path, overrides: ["rate=100"], unsets: ["clients"])
        #expect(open.load == .openLoop(rate: 100, maxInFlight: 1024))
        let counted = try WorkloadSpec.load(path: path, overrides: ["transactions=50"], unsets: ["duration"])
        #expect(counted.length == .transactions(50))
        let error = try #require(try fixtureError("closed-loop", unsets: ["pool.size"]))
        #expect(error.code == .badOverride)
        #expect(error.description.contains("pool.size"))
    }

    @Test("durability none models a process crash by default; the spec may ask for a power failure")
    func crashModel() throws {
        let none = try WorkloadSpec.load(path: try fixturePath("durability-none"))
        #expect(none.checks.crash == nil)
        #expect(none.effectiveCrash == .process)
        let power = try WorkloadSpec.load(path: try fixturePath("durability-none-power-failure"))
        #expect(power.effectiveCrash == .powerFailure)
        #expect(try WorkloadSpec.decode(yaml: power.canonicalYAML, file: "c.yaml") == power)
        #expect(WorkloadSpec(name: "f", accounts: 10).effectiveCrash == .powerFailure)
    }

    @Test("a spec whose accounts cannot fit in memory is refused with the estimate and the machine's memory")
    func memoryEstimate() throws {
        let spec = try WorkloadSpec.load(path: try fixturePath("huge-accounts"))
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp"))
        #expect(spec.estimatedMemoryBytes > 1_000_000_000_000)
        do {
            try driver.checkSupported(memoryBytes: 8 << 30)
            Issue.record("a 1 TB spec was accepted on an 8 GiB machine")
        } catch {
            #expect(error.key == "accounts")
            #expect(error.message.contains("8.0 GiB"), "\(error.message)")
        }
    }
}
