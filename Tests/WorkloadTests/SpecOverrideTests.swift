import Testing
import WorkloadSpec

@Suite("Spec overrides (--set key=value)")
struct SpecOverrideTests {
    private let twoRegions = """
        name: two
        accounts: 100
        regions:
          - {name: us-east, replicas: 1}
          - {name: eu-west, replicas: 1}
        network:
          rtt:
            eu-west: {us-east: 80ms}
        clients: 4

        """

    private func decode(_ yaml: String, _ overrides: [String]) throws(SpecError) -> WorkloadSpec {
        try WorkloadSpec.decode(yaml: yaml, file: "o.yaml", overrides: overrides)
    }

    @Test("an override replaces a top-level scalar")
    func topLevel() throws {
        let spec = try decode(twoRegions, ["clients=64", "duration=2m", "description=a b"])
        #expect(spec.load == .closedLoop(clients: [64]))
        #expect(spec.length == .duration(.seconds(120)))
        #expect(spec.description == "a b")
    }

    @Test("an override sets nested keys, list elements and flow values")
    func nested() throws {
        let spec = try decode(
            twoRegions,
            [
                "optimisations.batch_commit=[false,true]", "regions[0].replicas=3",
                "network.rtt.us-east.eu-west=40ms", "amount={min: 2, max: 9}",
            ])
        #expect(spec.optimisations.batchCommit == [false, true])
        #expect(spec.variants.count == 2)
        #expect(spec.regions[0] == WorkloadSpec.Region(name: "us-east", replicas: 3))
        #expect(spec.network.rtt(between: "us-east", and: "eu-west") == .milliseconds(40))
        #expect(spec.amount == WorkloadSpec.AmountRange(min: 2, max: 9))
    }

    @Test("an override creates missing mappings")
    func createsMissing() throws {
        let spec = try decode(
            "name: x\naccounts: 4\nregions: [{name: a}, {name: b}]\n",
            ["network.rtt.a.b=10ms", "pool.size=32", "gate.tps.relative=5%"])
        #expect(spec.network.rtt(between: "b", and: "a") == .milliseconds(10))
        #expect(spec.pool.size == 32)
        #expect(spec.gate == [WorkloadSpec.GateThreshold(metric: "tps", relativePercent: 5)])
    }

    @Test("overrides apply in order, the last one winning")
    func order() throws {
        let spec = try decode(twoRegions, ["clients=1", "clients=[2, 3]"])
        #expect(spec.load == .closedLoop(clients: [2, 3]))
    }

    @Test("a value error from an override names the override")
    func badValue() {
        let error = specError(twoRegions, file: "o.yaml", overrides: ["clients=x"])
        #expect(error?.code == .wrongType)
        #expect(error?.override == "clients=x")
        #expect(error?.keyPath == "clients")
        #expect(error?.line == 0)
        #expect(
            error?.description
                == "o.yaml: error: --set clients=x: 'clients' must be an integer, found a string 'x'")
    }

    @Test("an unknown key from an override names the override")
    func unknownKey() {
        let error = specError(twoRegions, overrides: ["optimisations.localty=true"])
        #expect(error?.code == .unknownKey)
        #expect(error?.keyPath == "optimisations.localty")
        #expect(error?.override == "optimisations.localty=true")
        #expect(error?.hint == "did you mean 'locality'?")
    }

    @Test("a rule broken by an override names the override")
    func conflict() {
        let error = specError(twoRegions, overrides: ["rate=100"])
        #expect(error?.code == .conflictingKeys)
        #expect(error?.override == "rate=100")
    }

    @Test(
        "malformed or inapplicable overrides are refused",
        arguments: [
            "clients", "=4", "a..b=1", ".a=1", "a.=1", "[0]=1", "regions[x]=1", "regions[0=1",
            "regions[5].replicas=3", "accounts.x=1", "clients[0]=1", "faults[0].at=1s", "clients=[1,",
        ]
    )
    func malformed(override: String) {
        let error = specError(twoRegions, file: "o.yaml", overrides: [override])
        #expect(error?.code == .badOverride, "\(String(describing: error))")
        #expect(error?.override == override)
        #expect(error?.description.hasPrefix("o.yaml: error: --set \(override): ") == true)
    }

    @Test("the canonical YAML includes the overrides")
    func canonical() throws {
        let spec = try decode(twoRegions, ["clients=[8, 16]", "regions[1].replicas=5"])
        let again = try WorkloadSpec.decode(yaml: spec.canonicalYAML, file: "c.yaml")
        #expect(again == spec)
        #expect(spec.canonicalYAML.contains("clients: [8, 16]"))
    }
}
