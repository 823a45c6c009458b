import Foundation
import Testing
import Workload

/// The harness removes only what it created (issue 8, items 1 and 2).
@Suite("Data directory ownership")
struct DataDirectoryTests {
    func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "layerbench-datadir-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a run's directory is fresh, marked with its pid, and removing it leaves the user's files")
    func ownsOnlyItsDirectory() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(FileManager.default.createFile(atPath: root + "/keep.txt", contents: Data("mine".utf8)))
        let data = try DataDirectory.create(root: root, runID: "run-1", pid: 4242)
        #expect(data.path == root + "/layerbench-run-1")
        #expect(!data.createdRoot)
        let marker = try String(contentsOfFile: data.path + "/" + DataDirectory.markerName, encoding: .utf8)
        #expect(marker.contains("pid 4242"))
        #expect(FileManager.default.createFile(atPath: data.path + "/wal", contents: Data([1, 2, 3])))
        data.remove()
        #expect(!FileManager.default.fileExists(atPath: data.path))
        #expect(FileManager.default.fileExists(atPath: root + "/keep.txt"))
    }

    @Test("a root the run created is removed with its directory when nothing else is in it")
    func createdRootRemoved() throws {
        let parent = try scratch()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let root = parent + "/a/b"
        let data = try DataDirectory.create(root: root, runID: "run-2")
        #expect(data.createdRoot)
        data.remove()
        #expect(!FileManager.default.fileExists(atPath: root))
    }

    @Test("a non-empty directory of the same name that the run did not create is refused, naming it")
    func refusesForeignDirectory() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/layerbench-run-3", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: root + "/layerbench-run-3/theirs", contents: Data("x".utf8)))
        #expect(throws: DataDirectoryError.self) { try DataDirectory.create(root: root, runID: "run-3") }
        do {
            _ = try DataDirectory.create(root: root, runID: "run-3")
        } catch {
            #expect(error.path == root + "/layerbench-run-3")
        }
        #expect(FileManager.default.fileExists(atPath: root + "/layerbench-run-3/theirs"))
        #expect(FileManager.default.createFile(atPath: root + "/plain", contents: Data()))
        #expect(throws: DataDirectoryError.self) { try DataDirectory.create(root: root + "/plain", runID: "run-4") }
    }

    @Test("stale directories of dead processes are removed; live or unmarked ones are kept")
    func staleRemoval() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try DataDirectory.create(root: root, runID: "dead", pid: 99_999_999)
        let live = try DataDirectory.create(root: root, runID: "live")
        try FileManager.default.createDirectory(
            atPath: root + "/layerbench-unmarked", withIntermediateDirectories: true)
        let removed = DataDirectory.removeStale(under: root)
        #expect(removed == [root + "/layerbench-dead"])
        #expect(FileManager.default.fileExists(atPath: live.path))
        #expect(FileManager.default.fileExists(atPath: root + "/layerbench-unmarked"))
    }
}
