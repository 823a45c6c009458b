import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small file helpers shared by the WAL and checkpoints; every failure names its path.
enum FileIO {
    static func ioError(_ path: String, _ error: any Error) -> StorageError {
        .io(path: path, message: "\(error)")
    }

    /// Opens (creating if needed) a file for appending.
    static func openForAppend(_ path: String) throws(StorageError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .append],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch { throw ioError(path, error) }
    }

    static func writeAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        do { _ = try fd.writeAll(bytes) } catch { throw ioError(path, error) }
    }

    /// `fdatasync`: the data (and the size) of the file is on stable storage when it returns.
    static func dataSync(_ fd: FileDescriptor, path: String) throws(StorageError) {
        #if canImport(Glibc)
            let result = fdatasync(fd.rawValue)
        #else
            let result = fsync(fd.rawValue)
        #endif
        if result != 0 { throw StorageError.io(path: path, message: "fdatasync: \(String(cString: strerror(errno)))") }
    }

    /// Makes a directory's entries (a created, renamed or removed file) durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly)
            defer { try? fd.close() }
            if fsync(fd.rawValue) != 0 {
                throw StorageError.io(path: path, message: "fsync: \(String(cString: strerror(errno)))")
            }
        } catch let error as StorageError {
            throw error
        } catch { throw ioError(path, error) }
    }

    static func readAll(_ path: String) throws(StorageError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError.io(path: path, message: "cannot read")
        }
        return [UInt8](data)
    }

    static func truncate(_ path: String, to size: Int) throws(StorageError) {
        if Foundation.truncate(path, off_t(size)) != 0 {
            throw StorageError.io(path: path, message: "truncate: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file, `fdatasync`, rename, directory sync.
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(StorageError) {
        let temporary = path + ".tmp"
        do {
            let fd = try FileDescriptor.open(
                FilePath(temporary), .writeOnly, options: [.create, .truncate],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            defer { try? fd.close() }
            try withBytes(bytes) { raw throws(StorageError) in try writeAll(fd, raw, path: temporary) }
            try dataSync(fd, path: temporary)
        } catch let error as StorageError {
            throw error
        } catch { throw ioError(temporary, error) }
        if rename(temporary, path) != 0 {
            throw StorageError.io(path: path, message: "rename: \(String(cString: strerror(errno)))")
        }
        try syncDirectory(directory)
    }
}

/// `withUnsafeBytes` for a body with a typed error (the standard library's version rethrows
/// `any Error`).
func withBytes<R>(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R
) throws(StorageError) -> R {
    let result: Result<R, StorageError> = bytes.withUnsafeBytes { raw in
        do throws(StorageError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
