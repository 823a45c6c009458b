import Foundation
import Storage
import Testing
import WorkloadSpec

/// Mutated specs and random bytes: the decoder never crashes or hangs, and every error it
/// throws names a position (a line and column), never echoing control bytes.
///
/// Seeded (the seed and the input are printed with any failure) and bounded: a fixed number of
/// inputs, cut short (never failed) by a time budget on a slow machine.
@Suite("Spec fuzzing")
struct SpecFuzzTests {
    static let seed: UInt64 = 0x5EED_0008
    static let iterations = 1500
    static let budgetNanos: UInt64 = 5_000_000_000

    /// Valid specs the mutations start from.
    static func corpus() throws -> [[UInt8]] {
        let full = try String(contentsOfFile: try fixturePath("full"), encoding: .utf8)
        // A small alias nest (the full bomb has its own test): mutations grow and shuffle it.
        let alias = "name: a\naccounts: 100\nx: &x [1, 2, 3]\ny: &y [*x, *x, *x]\nz: [*y, *y, *y]\n"
        return [
            full, alias, minimalSpec,
            "name: f\naccounts: 1000\nrate: 500\nduration: 2s\nmix: {single_region: 1}\n",
            "name: f\naccounts: 100\nregions:\n  - {name: a, replicas: 3}\n  - {name: b, replicas: 1}\n"
                + "network: {rtt: {a: {b: 40ms}}}\nclients: [1, 8]\ngate:\n  p99_ms: {relative: 10%}\n",
        ].map { Array($0.utf8) }
    }

    /// Bytes that mean something to YAML, a spec, or a terminal.
    static let interesting = Array(":-[]{}&*!|>'\"#%@`,? \n\t\r0123456789.e_x~\\".utf8) + [0, 0x1B, 0x7F, 0xC3, 0xFF]

    static func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let rounds = 1 + Int(random.next() % 4)
        for _ in 0..<rounds {
            let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            switch random.next() % 7 {
            case 0 where !bytes.isEmpty:
                let length = min(bytes.count - min(position, bytes.count), 1 + Int(random.next() % 8))
                bytes.removeSubrange(min(position, bytes.count)..<(min(position, bytes.count) + length))
            case 1:
                let count = 1 + Int(random.next() % 4)
                let added = (0..<count).map { _ in interesting[Int(random.next() % UInt64(interesting.count))] }
                bytes.insert(contentsOf: added, at: position)
            case 2:
                bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
            case 3:
                // Duplicate a line (duplicate keys, repeated list entries).
                let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                guard !lines.isEmpty else { continue }
                let line = lines[Int(random.next() % UInt64(lines.count))]
                bytes.insert(contentsOf: Array(line) + [0x0A], at: position)
            case 4:
                let numbers = ["-1", "0", "1e309", "99999999999999999999", "0x7fffffffffffffff", "1.5", "nan", ".inf"]
                bytes.insert(contentsOf: Array(numbers[Int(random.next() % UInt64(numbers.count))].utf8), at: position)
            case 5:
                let words = ["&a ", "*a", "<<: *a", "!!str ", "---\n", "...\n", "? ", "  ", "- ", "{", "["]
                bytes.insert(contentsOf: Array(words[Int(random.next() % UInt64(words.count))].utf8), at: position)
            default:
                if !bytes.isEmpty { bytes[min(position, bytes.count - 1)] ^= UInt8(1 << (random.next() % 8)) }
            }
        }
        return bytes
    }

    /// Checks one input: no crash (we are still here), a position in any error, no raw control bytes.
    static func check(_ bytes: [UInt8], iteration: Int) {
        do {
            _ = try WorkloadSpec.decode(bytes: bytes, file: "fuzz.yaml")
        } catch {
            let shown = SpecFuzzTests.escapedInput(bytes)
            #expect(
                error.line > 0 && error.column > 0,
                "seed \(seed) iteration \(iteration): no position in \(error.description) for input \(shown)")
            #expect(
                !error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
                "seed \(seed) iteration \(iteration): control byte in \(error.description)")
        }
    }

    static func escapedInput(_ bytes: [UInt8]) -> String {
        bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
    }

    @Test("mutated specs and random bytes never crash, and every error names a position")
    func fuzz() async throws {
        var random = SplitMix64(seed: Self.seed)
        let corpus = try Self.corpus()
        let clock = SystemClock.shared
        let start = clock.nowNanos()
        var iteration = 0
        while iteration < Self.iterations, clock.nanosSince(start) < Self.budgetNanos {
            let input: [UInt8]
            if iteration % 5 == 4 {
                let count = Int(random.next() % 200)
                input = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                input = Self.mutate(corpus[Int(random.next() % UInt64(corpus.count))], &random)
            }
            Self.check(input, iteration: iteration)
            iteration += 1
            // Leave the test runner's threads to the other suites now and then.
            await Task.yield()
        }
        #expect(iteration > 0)
    }
}
