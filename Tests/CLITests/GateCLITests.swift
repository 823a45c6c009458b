import Foundation
import Testing

/// `gate`, `compare` and `merge` on real runs of the built binary (issue 8, items 9 to 12).
extension CLISuites {
    @Suite("CLI: gate, compare, merge")
    struct GateCLITests {
        /// Runs a short spec and returns the run directory.
        func makeRun(in scratch: URL, _ arguments: [String] = [], extra: String = "") async throws -> String {
            // One client: no conflicts, so retries and commits per flush are the same in every run.
            let spec = try CLI.write(
                CLI.spec(name: "gated", "transactions: 60\n" + extra).replacingOccurrences(
                    of: "clients: 2", with: "clients: 1"),
                "spec.yaml", in: scratch)
            let reports = scratch.appendingPathComponent("reports")
            let result = try await CLI.run(
                ["run", spec, "--quiet", "--data-directory", scratch.path, "--output", reports.path] + arguments)
            #expect(result.status == 0, "\(result.output)")
            let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("report: ") })
            var path = String(line.dropFirst("report: ".count))
            if !path.hasSuffix("/") && path.contains(".") { path = (path as NSString).deletingLastPathComponent }
            return path
        }

        /// Multiplies one counter of every variant of a run.json.
        func scale(counter: String, by factor: Double, in runDirectory: String) async throws {
            let url = URL(fileURLWithPath: runDirectory).appendingPathComponent("run.json")
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            var variants = try #require(object["variants"] as? [[String: Any]])
            for index in variants.indices {
                var counters = try #require(variants[index]["counters"] as? [String: Any])
                counters[counter] = ((counters[counter] as? Double) ?? 0) * factor
                variants[index]["counters"] = counters
            }
            object["variants"] = variants
            try JSONSerialization.data(withJSONObject: object).write(to: url)
        }

        @Test("thresholds come from the baseline, not from the run being judged")
        func thresholdsFromBaseline() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let baseline = try await makeRun(in: scratch)
            let candidate = try await makeRun(
                in: scratch, ["--set", "gate={wal_bytes_per_transfer: {relative: 1000%}}"])
            try await scale(counter: "wal_bytes", by: 4.08, in: candidate)
            let result = try await CLI.run(["gate", candidate, "--baseline", baseline, "--allow-mismatch"])
            #expect(result.status == 2, "\(result.output)")
            #expect(result.stdout.contains("REGRESSED"))
            // A thresholds file given to the gate is the other accepted source.
            let thresholds = try CLI.write(
                "gate:\n  wal_bytes_per_transfer: {relative: 1000%}\n", "thresholds.yaml", in: scratch)
            let lenient = try await CLI.run([
                "gate", candidate, "--baseline", baseline, "--allow-mismatch", "--thresholds", thresholds,
            ])
            #expect(lenient.status == 0, "\(lenient.output)")
        }

        @Test("runs of different specs are refused with exit 1, naming the keys; --allow-mismatch warns")
        func specMismatch() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let baseline = try await makeRun(in: scratch)
            let candidate = try await makeRun(in: scratch, ["--set", "checks.cross_layer_identity=false"])
            let refused = try await CLI.run(["gate", candidate, "--baseline", baseline])
            #expect(refused.status == 1, "\(refused.output)")
            #expect(refused.stderr.contains("spec.checks"), "\(refused.stderr)")
            let warned = try await CLI.run(["gate", candidate, "--baseline", baseline, "--allow-mismatch"])
            #expect(warned.status == 0, "\(warned.output)")
            #expect(warned.output.contains("WARNING"))
            #expect(warned.output.contains("spec.checks"))
        }

        @Test("a missing or corrupt baseline exits 1, a regression 2")
        func baselineErrors() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let run = try await makeRun(in: scratch)
            let missing = try await CLI.run([
                "gate", run, "--baseline", scratch.appendingPathComponent("nope.json").path,
            ])
            #expect(missing.status == 1, "\(missing.output)")
            let corrupt = try CLI.write("{\"formatVersion\": ", "corrupt.json", in: scratch)
            #expect(try await CLI.run(["gate", run, "--baseline", corrupt]).status == 1)
            #expect(try await CLI.run(["gate", run, "--baseline", run]).status == 0)
        }

        @Test("compare leads with headline metrics and a verdict column, without meaningless ratios")
        func compareHeadline() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let a = try await makeRun(in: scratch)
            let b = try await makeRun(in: scratch)
            let result = try await CLI.run(["compare", a, b])
            #expect(result.status == 0, "\(result.output)")
            let firstTable = result.stdout.components(separatedBy: "\n\n").first { $0.contains("|") } ?? ""
            #expect(firstTable.contains("verdict"), "\(result.stdout)")
            #expect(firstTable.contains("tps"))
            #expect(!result.stdout.contains("pool_size_max_per_transfer"))
            #expect(!result.stdout.contains("jemalloc_resident_bytes_per_transfer"))
        }

        @Test("merge gives the merged run its own id and refuses an incomplete set unless asked")
        func merge() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let one = try await makeRun(in: scratch, ["--shard", "1/2", "--set", "clients=2"])
            let two = try await makeRun(in: scratch, ["--shard", "2/2", "--set", "clients=2"])
            let reports = scratch.appendingPathComponent("reports").path
            let incomplete = try await CLI.run(["merge", one, "--output", reports])
            #expect(incomplete.status == 1, "\(incomplete.output)")
            #expect(incomplete.stderr.contains("2/2") || incomplete.stderr.contains("1 of 2"), "\(incomplete.stderr)")
            let allowed = try await CLI.run(["merge", one, "--output", reports, "--allow-incomplete"])
            #expect(allowed.status == 0, "\(allowed.output)")
            let merged = try await CLI.run(["merge", one, two, "--output", reports])
            #expect(merged.status == 0, "\(merged.output)")
            let line = try #require(merged.stdout.split(separator: "\n").first { $0.hasPrefix("report: ") })
            let path = String(line.dropFirst("report: ".count))
            let directory =
                path.hasSuffix(".md") || path.hasSuffix(".json") ? (path as NSString).deletingLastPathComponent : path
            let id = (directory as NSString).lastPathComponent
            #expect(id != (one as NSString).lastPathComponent)
            #expect(id != (two as NSString).lastPathComponent)
            let summary = try String(contentsOfFile: directory + "/summary.md", encoding: .utf8)
            #expect(summary.contains((one as NSString).lastPathComponent))
            #expect(summary.contains("sum"))
        }
    }
}
