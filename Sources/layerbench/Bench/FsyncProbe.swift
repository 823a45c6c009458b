import Foundation
import Storage
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Measures raw `write` + `fdatasync` rate on the benchmark's own file system: the reference a
/// storage benchmark is read against (as PostgreSQL's `pg_test_fsync`).
enum FsyncProbe {
    /// Appends `blockBytes` and calls `fdatasync`, for `seconds` of `clock`; returns operations per
    /// second.
    static func measure(
        directory: String, seconds: Double, blockBytes: Int = 8192, clock: any EngineClock = SystemClock.shared
    ) throws -> Double {
        let path = directory + "/fsync-probe.tmp"
        let fd = try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        defer {
            try? fd.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let block = [UInt8](repeating: 0x5A, count: blockBytes)
        let start = clock.nowNanos()
        let deadline = start &+ UInt64(max(0, seconds) * 1e9)
        var operations = 0
        while clock.nowNanos() < deadline {
            _ = try block.withUnsafeBytes { try fd.writeAll($0) }
            guard fdatasync(fd.rawValue) == 0 else { throw Errno(rawValue: errno) }
            operations += 1
        }
        return Double(operations) / (Double(clock.nanosSince(start)) / 1e9)
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
