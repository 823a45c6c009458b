import PropertyBased
import Testing
import WorkloadSpec

@Suite("Spec properties")
struct SpecPropertyTests {
    @Test("any unknown key is refused at its exact line and column")
    func unknownKeyPosition() async {
        await propertyCheck(
            input: Gen.lowercaseLetter.string(of: 1...12), Gen.int(in: 0...6), Gen.int(in: 0...1)
        ) { suffix, blankLines, nested in
            let key = "x_" + suffix
            let padding = String(repeating: "# filler\n", count: blankLines)
            let yaml: String
            let expectedPath: String
            let expectedColumn: Int
            if nested == 1 {
                yaml = minimalSpec + padding + "pool:\n  size: 4\n  \(key): 1\n"
                expectedPath = "pool." + key
                expectedColumn = 3
            } else {
                yaml = minimalSpec + padding + "\(key): 1\nclients: 4\n"
                expectedPath = key
                expectedColumn = 1
            }
            let error = specError(yaml, file: "p.yaml")
            #expect(error?.code == .unknownKey)
            #expect(error?.keyPath == expectedPath)
            #expect(error?.line == 3 + blankLines + 2 * nested)
            #expect(error?.column == expectedColumn)
            #expect(error?.description.hasPrefix("p.yaml:\(3 + blankLines + 2 * nested):\(expectedColumn): ") == true)
        }
    }

    @Test("any in-range account count and seed decode unchanged, and survive canonical YAML")
    func numbersRoundTrip() async {
        await propertyCheck(input: Gen.int(in: 2...1_000_000_000), Gen.int(in: 0...Int.max)) { accounts, seed in
            await failOnThrow("accounts \(accounts), seed \(seed)") {
                let spec = try WorkloadSpec.decode(
                    yaml: "name: p\naccounts: \(accounts)\nseed: \(seed)\n", file: "p.yaml")
                #expect(spec.accounts == accounts)
                #expect(spec.seed == UInt64(seed))
                #expect(try WorkloadSpec.decode(yaml: spec.canonicalYAML, file: "c.yaml") == spec)
            }
        }
    }
}
