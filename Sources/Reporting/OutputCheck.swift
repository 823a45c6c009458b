import Foundation
import Results

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks, before a run does any work, that its report can be written: the reports directory
/// can be created, a file can be written in it, and the file system has room for a report.
public enum OutputCheck {
    /// The free space a report needs at the least (run.json with its histograms, the SVG charts).
    public static let minimumFreeBytes: UInt64 = 16 << 20

    /// Creates `directory` (and its parents) if needed and proves it writable with a probe file.
    ///
    /// - Throws: ``ReportError/cannotWrite(path:reason:)`` naming the path that failed and why
    ///   (the C library's words: "permission denied", "not a directory", "no space left on device").
    public static func check(directory: String, minimumFreeBytes: UInt64 = OutputCheck.minimumFreeBytes) throws {
        let status = FileSystemSupport.makeDirectories(directory)
        guard status == 0 else {
            throw ReportError.cannotWrite(
                path: failingPrefix(of: directory), reason: FileSystemSupport.describe(errno: status))
        }
        let probe = (directory as NSString).appendingPathComponent(".layerbench-probe-\(getpid())")
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            throw ReportError.cannotWrite(path: directory, reason: FileSystemSupport.describe(errno: errno))
        }
        let byte: [UInt8] = [0x0A]
        let written = write(descriptor, byte, 1)
        let writeError = errno
        close(descriptor)
        unlink(probe)
        guard written == 1 else {
            throw ReportError.cannotWrite(path: directory, reason: FileSystemSupport.describe(errno: writeError))
        }
        var stats = statvfs()
        if statvfs(directory, &stats) == 0 {
            let free = UInt64(stats.f_bavail) &* UInt64(stats.f_frsize)
            if free < minimumFreeBytes {
                throw ReportError.cannotWrite(
                    path: directory,
                    reason: "only \(free / 1024) KiB free, a report needs at least \(minimumFreeBytes >> 20) MiB")
            }
        }
    }

    /// The longest prefix of `path` that exists, or the path itself: where creation failed.
    static func failingPrefix(of path: String) -> String {
        var current = path
        while !current.isEmpty, current != "/", !FileManager.default.fileExists(atPath: current) {
            current = (current as NSString).deletingLastPathComponent
        }
        return current.isEmpty ? path : current
    }
}
