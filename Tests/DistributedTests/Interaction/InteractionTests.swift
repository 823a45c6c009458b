import Foundation
import Testing

/// Scripted interaction tests with golden output, in etcd's datadriven format: each file under
/// `testdata/` is a sequence of commands and the output they must produce. `RAFT_REWRITE=1` rewrites the
/// files (in the source tree) with the actual output; read every changed file before committing it.
@Suite("Raft interactions")
struct InteractionTests {
    static let files: [String] = {
        guard let directory = Bundle.module.url(forResource: "testdata", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        else { return [] }
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }()

    @Test("the golden files exist")
    func filesExist() {
        #expect(Self.files.count >= 5, "found \(Self.files)")
    }

    @Test("golden output", arguments: files)
    func golden(file: String) throws {
        let rewrite = environmentValue("RAFT_REWRITE") != nil
        // Rewriting reads and writes the source file (the bundle holds the copy from the last build).
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("testdata").appendingPathComponent(file)
        let url =
            try rewrite ? source : #require(Bundle.module.url(forResource: "testdata/" + file, withExtension: nil))
        let text = try String(contentsOf: url, encoding: .utf8)
        let cases = try DataDriven.parse(text)
        var environment = InteractionEnvironment()
        var results: [(DataDrivenCase, String)] = []
        for c in cases {
            let actual: String
            do {
                actual = try environment.handle(c)
            } catch {
                actual = "error: \(error)"
            }
            results.append((c, actual))
            if !rewrite {
                #expect(
                    actual == c.expected,
                    "\(file):\(c.line): \(c.command)\n--- expected\n\(c.expected)\n--- actual\n\(actual)")
            }
        }
        if rewrite {
            try DataDriven.rewrite(text, results).write(to: source, atomically: true, encoding: .utf8)
        }
    }
}
