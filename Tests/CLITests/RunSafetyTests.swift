import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `layerbench run` never destroys a user's files, survives interrupts with its results, and
/// checks its output before doing any work (issue 8, items 1 to 3).
extension CLISuites {
    @Suite("run: data safety")
    struct RunSafetyTests {
        /// Entries of `directory` whose names start with `layerbench-`.
        func litter(in directory: URL) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter {
                $0.hasPrefix("layerbench-")
            }
        }

        @Test("--data-directory DIR keeps DIR and everything the user had in it")
        func dataDirectoryKeepsUserFiles() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let data = scratch.appendingPathComponent("mine")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try CLI.write("precious\n", "keep.txt", in: data)
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run([
                "run", spec, "--quiet", "--data-directory", data.path, "--output",
                scratch.appendingPathComponent("r").path,
            ])
            #expect(result.status == 0, "\(result.output)")
            #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("keep.txt").path))
            #expect(litter(in: data).isEmpty, "left behind: \(litter(in: data))")
        }

        @Test("--data-directory . does not delete the working directory")
        func dataDirectoryDotKeepsWorkingDirectory() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            try CLI.write("precious\n", "keep.txt", in: scratch)
            try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run(
                ["run", "spec.yaml", "--quiet", "--data-directory", ".", "--output", "r"], in: scratch)
            #expect(result.status == 0, "\(result.output)")
            #expect(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("keep.txt").path))
            #expect(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("spec.yaml").path))
            #expect(litter(in: scratch).isEmpty)
        }

        @Test("a data directory that is a regular file is refused, naming it, before any work")
        func dataDirectoryThatIsAFile() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let file = try CLI.write("not a directory\n", "plain", in: scratch)
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run(["run", spec, "--quiet", "--data-directory", file, "--output", scratch.path])
            #expect(result.status == 1)
            #expect(result.stderr.contains(file))
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "not a directory\n")
        }

        @Test("stale data directories of dead runs are removed at start; unmarked ones are kept")
        func staleDirectoriesRemoved() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let data = scratch.appendingPathComponent("data")
            let stale = data.appendingPathComponent("layerbench-20260101-000000-dead")
            let foreign = data.appendingPathComponent("layerbench-not-ours")
            try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
            // A pid above the kernel's pid_max cannot belong to a live process.
            try CLI.write("pid 99999999\nrun 20260101-000000-dead\n", ".layerbench", in: stale)
            try CLI.write("x\n", "file", in: stale)
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run([
                "run", spec, "--quiet", "--data-directory", data.path, "--output",
                scratch.appendingPathComponent("r").path,
            ])
            #expect(result.status == 0, "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: stale.path))
            #expect(FileManager.default.fileExists(atPath: foreign.path))
        }

        func interrupt(with signalNumber: Int32, expectedStatus: Int32) async throws {
            let scratch = try CLI.scratch("interrupt\(signalNumber)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let data = scratch.appendingPathComponent("data")
            let reports = scratch.appendingPathComponent("reports")
            let spec = try CLI.write(
                CLI.spec(name: "interrupted", "duration: 1s\noptimisations: {batch_commit: [false, true]}\n"),
                "spec.yaml", in: scratch)
            // The second variant is made long by an override so that the signal surely lands in it.
            let running = try CLI.start([
                "run", spec, "--data-directory", data.path, "--output", reports.path,
            ])
            #expect(await running.waitForStderr(containing: "baseline: "), "\(running.stderrSoFar)")
            #expect(await running.waitForStderr(containing: "[2/2"), "\(running.stderrSoFar)")
            running.signal(signalNumber)
            let result = await running.wait(timeout: 60)
            #expect(result.status == expectedStatus, "\(result.output)")
            #expect(result.stderr.contains("partial"), "\(result.stderr)")
            #expect(litter(in: data).isEmpty, "left behind: \(litter(in: data))")
            let runs =
                (try? FileManager.default.contentsOfDirectory(
                    atPath: reports.appendingPathComponent("interrupted").path))
                ?? []
            #expect(runs.count == 1)
            let json = reports.appendingPathComponent("interrupted").appendingPathComponent(runs.first ?? "")
                .appendingPathComponent("run.json")
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
            let variants = (object?["variants"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(variants == ["baseline"])
            #expect((object?["partial"] as? String)?.contains(signalNumber == SIGINT ? "SIGINT" : "SIGTERM") == true)
            #expect(result.stderr.contains(json.deletingLastPathComponent().path))
        }

        @Test("SIGINT during variant 2 writes variant 1 (marked partial), removes the data, exits 130")
        func sigint() async throws {
            try await interrupt(with: SIGINT, expectedStatus: 130)
        }

        @Test("SIGTERM during variant 2 writes variant 1 (marked partial), removes the data, exits 143")
        func sigterm() async throws {
            try await interrupt(with: SIGTERM, expectedStatus: 143)
        }

        @Test("a second SIGINT exits at once; the next run removes the directory the dead run left")
        func secondInterrupt() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let data = scratch.appendingPathComponent("data")
            // Loading 20 M accounts takes seconds even with the bulk-load path (400,000 once did, before
            // it), long enough that both signals land in it (the first is acted on only once the load is
            // done); the second ends the process long before the load would need its memory.
            let spec = try CLI.write(
                CLI.spec(name: "twice", "duration: 1s").replacingOccurrences(
                    of: "accounts: 200", with: "accounts: 20000000"), "spec.yaml", in: scratch)
            let running = try CLI.start([
                "run", spec, "--data-directory", data.path, "--output", scratch.appendingPathComponent("r").path,
            ])
            #expect(await running.waitForStderr(containing: "loading accounts"), "\(running.stderrSoFar)")
            running.signal(SIGINT)
            #expect(await running.waitForStderr(containing: "again to exit at once"), "\(running.stderrSoFar)")
            running.signal(SIGINT)
            let result = await running.wait(timeout: 60)
            #expect(result.status == 130, "\(result.output)")
            #expect(result.stderr.contains("exiting at once"))
            #expect(!result.stderr.contains("written to"), "no report after the second signal")
            #expect(litter(in: data).count == 1, "the dead run's directory stays until the next run")
            let next = try CLI.write(CLI.spec("transactions: 20"), "next.yaml", in: scratch)
            let cleanup = try await CLI.run([
                "run", next, "--quiet", "--data-directory", data.path, "--output",
                scratch.appendingPathComponent("r").path,
            ])
            #expect(cleanup.status == 0, "\(cleanup.output)")
            #expect(litter(in: data).isEmpty, "left behind: \(litter(in: data))")
        }

        @Test("an output under a regular file is refused before loading, without Foundation internals")
        func outputUnderAFile() async throws {
            let scratch = try CLI.scratch()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let file = try CLI.write("x\n", "plain", in: scratch)
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run([
                "run", spec, "--data-directory", scratch.path, "--output", file + "/reports",
            ])
            #expect(result.status == 1)
            #expect(result.stderr.contains(file))
            #expect(!result.stderr.contains("loading"), "worked before checking: \(result.stderr)")
            #expect(!result.stderr.contains("running"), "worked before checking: \(result.stderr)")
            #expect(!result.output.contains("NSCocoaErrorDomain"))
            #expect(!result.output.contains("error 512"))
        }

        @Test(
            "a read-only output directory is refused before loading, naming it",
            .enabled(if: getuid() != 0 || TinyMount.available, "as root, needs permission to mount a tmpfs"))
        func outputReadOnly() async throws {
            let scratch = try CLI.scratch()
            let readOnly = scratch.appendingPathComponent("ro")
            try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
            // Root ignores permission bits: a read-only file system is what stops it.
            let asRoot = getuid() == 0
            if asRoot { try TinyMount.mount(readOnly, options: "ro,size=64k") } else { chmod(readOnly.path, 0o555) }
            defer {
                if asRoot { TinyMount.unmount(readOnly) } else { chmod(readOnly.path, 0o755) }
                try? FileManager.default.removeItem(at: scratch)
            }
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run(["run", spec, "--data-directory", scratch.path, "--output", readOnly.path])
            #expect(result.status == 1)
            #expect(result.stderr.contains(readOnly.path))
            let reason = asRoot ? "read-only file system" : "permission denied"
            #expect(result.stderr.lowercased().contains(reason), "\(result.stderr)")
            #expect(!result.stderr.contains("loading"))
            #expect(!result.output.contains("NSCocoaErrorDomain"))
        }

        @Test(
            "an output file system without room for the report is refused before loading, naming it",
            .enabled(if: TinyMount.available, "needs root and permission to mount a tmpfs"))
        func outputFull() async throws {
            let scratch = try CLI.scratch()
            let full = scratch.appendingPathComponent("full")
            try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
            try TinyMount.mount(full, options: "size=64k")
            defer {
                TinyMount.unmount(full)
                try? FileManager.default.removeItem(at: scratch)
            }
            let spec = try CLI.write(CLI.spec("transactions: 40"), "spec.yaml", in: scratch)
            let result = try await CLI.run(["run", spec, "--data-directory", scratch.path, "--output", full.path])
            #expect(result.status == 1)
            #expect(result.stderr.contains(full.path), "\(result.stderr)")
            #expect(!result.stderr.contains("loading"), "worked before checking: \(result.stderr)")
            #expect(!result.output.contains("NSCocoaErrorDomain"))
        }
    }
}
