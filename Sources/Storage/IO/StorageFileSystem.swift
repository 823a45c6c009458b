#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The file operations the WAL and checkpoints make: one seam, so that tests (and the harness's
/// fault injector) can fail any call at any call site with `FaultInjectingFileSystem`.
///
/// Every failure is a `StorageError.io` naming the path and the operating system's message.
/// Callers decide what a failure means: a failed `write`, `dataSync` or `syncDirectory` of the
/// WAL or of a checkpoint poisons the engine (fail-stop, as PostgreSQL after fsyncgate); a failed
/// `open`, `rename` or `remove` of a checkpoint fails only that checkpoint.
public protocol StorageFileSystem: Sendable {
    /// Opens `path` for writing, creating it if missing; empties it with `truncating`, else appends.
    func open(_ path: String, truncating: Bool) throws(StorageError) -> Int32
    /// Writes all of `bytes` (a short write is an error).
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError)
    /// `fdatasync`: the file's data and size are on stable storage when it returns.
    func dataSync(_ fd: Int32, path: String) throws(StorageError)
    /// Closes a descriptor (errors are ignored: the data was synced, or is given up).
    func close(_ fd: Int32)
    /// Cuts an open file to `size` bytes (crash simulation: unsynced bytes lost).
    func resize(_ fd: Int32, to size: Int, path: String) throws(StorageError)
    /// Renames `source` to `destination`, atomically replacing it.
    func rename(_ source: String, to destination: String) throws(StorageError)
    /// `fsync` of a directory: its entries (created, renamed, removed files) are durable.
    func syncDirectory(_ path: String) throws(StorageError)
    /// Cuts the file at `path` to `size` bytes.
    func truncate(_ path: String, to size: Int) throws(StorageError)
    /// Removes the file at `path`.
    func remove(_ path: String) throws(StorageError)
}

/// The real file system: POSIX calls.
public struct PosixFileSystem: StorageFileSystem {
    /// The shared instance (the type has no state).
    public static let shared = PosixFileSystem()

    public init() {}

    private static func failure(_ path: String, _ call: String) -> StorageError {
        .io(path: path, message: "\(call): \(String(cString: strerror(errno)))")
    }

    public func open(_ path: String, truncating: Bool) throws(StorageError) -> Int32 {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncating ? O_TRUNC : O_APPEND)
        let fd = path.withCString { cOpen($0, flags, mode_t(0o644)) }
        if fd < 0 { throw Self.failure(path, "open") }
        return fd
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        var offset = 0
        while offset < bytes.count {
            let written = cWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.failure(path, "write")
            }
            if written == 0 { throw StorageError.io(path: path, message: "write: wrote 0 bytes") }
            offset += written
        }
    }

    public func dataSync(_ fd: Int32, path: String) throws(StorageError) {
        #if canImport(Glibc)
            let result = fdatasync(fd)
        #else
            let result = fsync(fd)
        #endif
        if result != 0 { throw Self.failure(path, "fdatasync") }
    }

    public func close(_ fd: Int32) {
        _ = cClose(fd)
    }

    public func resize(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        if ftruncate(fd, off_t(size)) != 0 { throw Self.failure(path, "ftruncate") }
    }

    public func rename(_ source: String, to destination: String) throws(StorageError) {
        if cRename(source, destination) != 0 { throw Self.failure(destination, "rename") }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fd = path.withCString { cOpen($0, O_RDONLY | O_CLOEXEC, 0) }
        if fd < 0 { throw Self.failure(path, "open") }
        defer { _ = cClose(fd) }
        if fsync(fd) != 0 { throw Self.failure(path, "fsync") }
    }

    public func truncate(_ path: String, to size: Int) throws(StorageError) {
        if cTruncate(path, off_t(size)) != 0 { throw Self.failure(path, "truncate") }
    }

    public func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 { throw Self.failure(path, "unlink") }
    }
}

// The C calls, under names the methods above do not shadow.
private func cOpen(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func cWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func cClose(_ fd: Int32) -> Int32 { close(fd) }
private func cRename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }
private func cTruncate(_ path: String, _ size: off_t) -> Int32 { truncate(path, size) }
