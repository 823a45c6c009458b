import PropertyBased
import Testing
import WorkloadSpec

@Suite("Spec matrix expansion")
struct SpecMatrixTests {
    private func variants(_ yaml: String) throws -> [Variant] {
        try WorkloadSpec.decode(yaml: minimalSpec + yaml, file: "m.yaml").variants
    }

    @Test("a spec without axes has one baseline variant")
    func single() throws {
        let only = try variants("")
        #expect(
            only == [
                Variant(name: "baseline", locality: false, batchCommit: false, asyncReplication: false, clients: 16)
            ])
        let allOn = try variants("optimisations: {locality: true, batch_commit: true, async_replication: true}")
        #expect(allOn.map(\.name) == ["locality+batch_commit+async_replication"])
    }

    @Test("one two-valued axis gives two variants in the listed order")
    func oneAxis() throws {
        #expect(
            try variants("optimisations: {batch_commit: [false, true]}").map(\.name) == ["baseline", "batch_commit"])
        #expect(
            try variants("optimisations: {batch_commit: [true, false]}").map(\.name) == ["batch_commit", "baseline"])
    }

    @Test("2 x 2 axes give 4 variants, the later axis varying fastest")
    func twoAxes() throws {
        let result = try variants("optimisations: {locality: [false, true], batch_commit: [false, true]}")
        #expect(result.map(\.name) == ["baseline", "batch_commit", "locality", "locality+batch_commit"])
        #expect(result.map(\.locality) == [false, false, true, true])
        #expect(result.map(\.batchCommit) == [false, true, false, true])
        #expect(result.allSatisfy { $0.clients == 16 && !$0.asyncReplication })
    }

    @Test("a clients axis is named in each variant")
    func clientsAxis() throws {
        let result = try variants("clients: [16, 64]\noptimisations: {async_replication: [false, true]}")
        #expect(
            result.map(\.name) == [
                "baseline-c16", "baseline-c64", "async_replication-c16",
                "async_replication-c64",
            ])
        #expect(result.map(\.clients) == [16, 64, 16, 64])
        #expect(try variants("clients: [32]").map(\.name) == ["baseline"])
    }

    @Test("an open-loop run has no client count")
    func openLoop() throws {
        let result = try variants("rate: 1000\noptimisations: {locality: [false, true]}")
        #expect(result.map(\.clients) == [nil, nil])
        #expect(result.map(\.name) == ["baseline", "locality"])
    }

    @Test("the matrix size is the product of the axis lengths, and names are unique")
    func product() async {
        await propertyCheck(input: Gen.int(in: 0...3), Gen.int(in: 0...3), Gen.int(in: 1...4)) { a, b, c in
            await failOnThrow("axes \(a), \(b), \(c)") {
                let axis = { (n: Int) in ["true", "false", "[false, true]", "[true, false]"][n] }
                let clients = (1...c).map { "\($0 * 8)" }.joined(separator: ", ")
                let spec = try WorkloadSpec.decode(
                    yaml: minimalSpec
                        + "optimisations: {locality: \(axis(a)), async_replication: \(axis(b))}\nclients: [\(clients)]\n",
                    file: "m.yaml")
                let result = spec.variants
                #expect(result.count == (a >= 2 ? 2 : 1) * (b >= 2 ? 2 : 1) * c)
                #expect(Set(result.map(\.name)).count == result.count)
            }
        }
    }
}
