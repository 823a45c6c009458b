import Foundation
import Testing

/// Specs that validate but could not run well are refused, and a run that measured nothing is an
/// error (issue 8, item 5); exit codes are 0/1/2 everywhere (item 10); reports name only files
/// that were written (item 13).
extension CLISuites {
    @Suite("CLI: validation, exit codes and report paths")
    struct ValidationCLITests {
        @Test("jemalloc runs with the executable's page decay (1 s dirty, no muzzy), read back from jemalloc")
        func jemallocDecay() async throws {
            let result = try await CLI.run(["version"])
            #expect(result.status == 0, "\(result.output)")
            // jemalloc's defaults are 10,000 ms dirty: a resident figure would count freed pages.
            #expect(result.stdout.contains("in effect: dirty_decay_ms 1000, muzzy_decay_ms 0"), "\(result.stdout)")
        }

        @Test("a shard that gets no client is refused with exit 1 before any work")
        func emptyShard() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write(CLI.spec("duration: 1s"), "spec.yaml", in: scratch)
            let result = try await CLI.run(["run", spec, "--quiet", "--shard", "3/3", "--output", scratch.path])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stderr.contains("--shard"), "\(result.stderr)")
            #expect(!result.stderr.contains("loading"))
        }

        @Test("a spec too large for the machine's memory is refused by validate with the estimate")
        func memory() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write(
                "name: huge\naccounts: 1000000000\npayload_bytes: 1024\nregions: [{name: r, replicas: 1}]\n",
                "spec.yaml", in: scratch)
            let result = try await CLI.run(["validate", spec])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains("accounts"))
            #expect(result.output.contains("GiB"))
        }

        @Test("a bad spec exits 1 from validate and run alike, and the help documents 0/1/2")
        func exitCodes() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write("name: bad\naccounts: x\n", "spec.yaml", in: scratch)
            #expect(try await CLI.run(["validate", spec]).status == 1)
            #expect(try await CLI.run(["run", spec, "--output", scratch.path]).status == 1)
            #expect(try await CLI.run(["run", spec, "--no-such-flag"]).status == 1)
            for command in ["run", "validate", "compare", "merge", "gate", "version", "bench"] {
                let help = try await CLI.run([command, "--help"])
                #expect(help.status == 0)
                #expect(help.output.contains("EXIT STATUS"), "\(command) --help: \(help.output)")
                #expect(help.output.contains("0 "), "\(command)")
                #expect(help.output.contains("1 "), "\(command)")
            }
            #expect(try await CLI.run(["gate", "--help"]).output.contains("2 "))
        }

        @Test("--unset switches a closed-loop spec to an open loop from the command line")
        func unsetClients() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write(CLI.spec("duration: 1s"), "spec.yaml", in: scratch)
            let refused = try await CLI.run(["validate", spec, "--set", "rate=100"])
            #expect(refused.status == 1)
            let switched = try await CLI.run(["validate", spec, "--unset", "clients", "--set", "rate=100"])
            #expect(switched.status == 0, "\(switched.output)")
            let missing = try await CLI.run(["validate", spec, "--unset", "pool.size"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("--unset pool.size"), "\(missing.stderr)")
        }

        @Test("with formats [csv, json] the run prints paths that exist, not summary.md")
        func reportPathExists() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write(
                CLI.spec("transactions: 40\nreport: {formats: [csv, json]}"), "spec.yaml", in: scratch)
            let result = try await CLI.run([
                "run", spec, "--quiet", "--data-directory", scratch.path, "--output", scratch.path,
            ])
            #expect(result.status == 0, "\(result.output)")
            let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("report: ") }
            #expect(!lines.isEmpty)
            for line in lines {
                let path = String(line.dropFirst("report: ".count))
                #expect(FileManager.default.fileExists(atPath: path), "printed a path that was not written: \(path)")
            }
            #expect(!result.output.contains("summary.md"))
        }

        @Test("durability: none passes its audit under the default process-crash model")
        func durabilityNone() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let spec = try CLI.write(CLI.spec("transactions: 200"), "spec.yaml", in: scratch)
            let result = try await CLI.run([
                "run", spec, "--quiet", "--data-directory", scratch.path, "--output", scratch.path,
            ])
            #expect(result.status == 0, "\(result.output)")
            #expect(!result.output.contains("FAILED"))
        }
    }
}
