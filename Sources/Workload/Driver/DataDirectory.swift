import Foundation
import Results

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The engine's data directory of one run: a fresh `layerbench-<run-id>` directory the harness
/// creates inside a root (the user's `--data-directory`, or the temporary directory), marked with
/// a `.layerbench` file that names the owning process. The harness removes only what it created:
/// this directory, and the root itself only when it created the root and left it empty.
public struct DataDirectory: Sendable {
    /// The marker file's name inside an owned directory.
    public static let markerName = ".layerbench"
    /// The prefix of an owned directory's name.
    public static let prefix = "layerbench-"

    /// The directory the engine writes under.
    public let path: String
    /// The root it lives in.
    public let root: String
    /// Whether this run created the root (then an empty root is removed with the directory).
    public let createdRoot: Bool

    /// Creates the data directory of run `runID` inside `root`, marked with this process's id.
    ///
    /// - Throws: ``DataDirectoryError`` naming the path when the root is not a directory, cannot
    ///   be created or written, or the run's directory already exists and is not empty.
    public static func create(
        root: String, runID: String, pid: Int32 = getpid()
    ) throws(DataDirectoryError) -> DataDirectory {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        var createdRoot = false
        if fileManager.fileExists(atPath: root, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw DataDirectoryError(path: root, reason: "it exists and is not a directory")
            }
        } else {
            let status = FileSystemSupport.makeDirectories(root)
            guard status == 0 else {
                throw DataDirectoryError(path: root, reason: FileSystemSupport.describe(errno: status))
            }
            createdRoot = true
        }
        let path = (root as NSString).appendingPathComponent(prefix + runID)
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST, ((try? fileManager.contentsOfDirectory(atPath: path)) ?? ["?"]).isEmpty {
                // An empty directory of this exact name holds nothing to lose: take it.
            } else {
                throw DataDirectoryError(
                    path: path,
                    reason: code == EEXIST
                        ? "it already exists, is not empty and was not created by this run; refusing to use it"
                        : FileSystemSupport.describe(errno: code))
            }
        }
        let marker = (path as NSString).appendingPathComponent(markerName)
        guard fileManager.createFile(atPath: marker, contents: Data("pid \(pid)\nrun \(runID)\n".utf8)) else {
            rmdir(path)
            throw DataDirectoryError(path: marker, reason: "cannot create the ownership marker")
        }
        return DataDirectory(path: path, root: root, createdRoot: createdRoot)
    }

    /// Removes the directory (only if it still carries this run's marker), and the root when this
    /// run created it and it is now empty.
    public func remove() {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: (path as NSString).appendingPathComponent(Self.markerName)) else { return }
        try? fileManager.removeItem(atPath: path)
        if createdRoot, (try? fileManager.contentsOfDirectory(atPath: root))?.isEmpty == true {
            rmdir(root)
        }
    }

    /// Removes, inside `root`, the data directories of runs whose owning process is gone (their
    /// marker names a pid that no longer exists). Directories without a marker are never touched.
    /// Returns the paths removed.
    @discardableResult
    public static func removeStale(under root: String) -> [String] {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: root) else { return [] }
        var removed: [String] = []
        for name in names.sorted() where name.hasPrefix(prefix) {
            let path = (root as NSString).appendingPathComponent(name)
            let marker = (path as NSString).appendingPathComponent(markerName)
            guard let text = try? String(contentsOfFile: marker, encoding: .utf8),
                let pid = ownerPID(text), pid > 0, !isAlive(pid)
            else { continue }
            if (try? fileManager.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// The pid a marker names (`pid <n>` on its first line).
    static func ownerPID(_ marker: String) -> Int32? {
        for line in marker.split(separator: "\n") where line.hasPrefix("pid ") {
            return Int32(line.dropFirst(4).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Whether a process with this id exists (a pid we may not signal still exists).
    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

/// A data directory that cannot be used, naming the path and why.
public struct DataDirectoryError: Error, Sendable, CustomStringConvertible {
    /// The path involved.
    public var path: String
    /// Why it cannot be used.
    public var reason: String

    public var description: String { "data directory \(path): \(reason)" }
}
