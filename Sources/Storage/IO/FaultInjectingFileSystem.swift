import Synchronization

/// A file system that fails chosen calls: the tests' (and the harness's) way to check that every
/// I/O failure at every call site is fail-stop. Calls not matched by a rule go to `base`.
public final class FaultInjectingFileSystem: StorageFileSystem {
    /// The calls a rule can fail.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case open, write, dataSync, rename, syncDirectory, truncate, remove
    }

    /// How a call fails.
    public enum Fault: String, Sendable, Hashable, CaseIterable {
        /// EIO: the device reported an error.
        case eio
        /// ENOSPC: the device is full.
        case enospc
        /// A `write` stores only the first half of its bytes, then fails with ENOSPC (other
        /// calls fail with ENOSPC).
        case shortWrite
    }

    private struct Rule {
        var operation: Operation
        var pathContains: String
        var skip: Int
        var fault: Fault
        var persistent: Bool
    }

    private struct State {
        var rules: [Rule] = []
        var calls: [Operation: Int] = [:]
        var injected = 0
    }

    private let base: any StorageFileSystem
    private let state = Mutex(State())

    /// A file system passing every call to `base` until a rule says otherwise.
    public init(base: any StorageFileSystem = PosixFileSystem.shared) {
        self.base = base
    }

    /// Fails the call to `operation` on a path containing `pathContains` after `skip` such calls
    /// succeeded; once, or every such call from then on with `persistent`.
    public func inject(
        _ fault: Fault, into operation: Operation, pathContains: String = "", after skip: Int = 0,
        persistent: Bool = false
    ) {
        state.withLock {
            $0.rules.append(
                Rule(operation: operation, pathContains: pathContains, skip: skip, fault: fault, persistent: persistent)
            )
        }
    }

    /// Removes every rule (later calls succeed).
    public func heal() {
        state.withLock { $0.rules = [] }
    }

    /// Calls made to `operation` (failed ones included).
    public func calls(_ operation: Operation) -> Int {
        state.withLock { $0.calls[operation] ?? 0 }
    }

    /// Faults injected so far.
    public var injectedCount: Int { state.withLock { $0.injected } }

    /// The fault to inject into this call, if a rule matches it.
    private func fault(_ operation: Operation, _ path: String) -> Fault? {
        state.withLock { s -> Fault? in
            s.calls[operation, default: 0] += 1
            guard let index = s.rules.firstIndex(where: { $0.operation == operation && path.contains($0.pathContains) })
            else { return nil }
            if s.rules[index].skip > 0 {
                s.rules[index].skip -= 1
                return nil
            }
            let fault = s.rules[index].fault
            if !s.rules[index].persistent { s.rules.remove(at: index) }
            s.injected += 1
            return fault
        }
    }

    private static func error(_ fault: Fault, _ operation: Operation, _ path: String) -> StorageError {
        let reason = fault == .eio ? "Input/output error" : "No space left on device"
        return .io(path: path, message: "\(operation.rawValue): \(reason) (injected)")
    }

    public func open(_ path: String, truncating: Bool) throws(StorageError) -> Int32 {
        if let fault = fault(.open, path) { throw Self.error(fault, .open, path) }
        return try base.open(path, truncating: truncating)
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError) {
        if let fault = fault(.write, path) {
            if fault == .shortWrite, bytes.count > 1 {
                try base.write(fd, UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count / 2)]), path: path)
            }
            throw Self.error(fault, .write, path)
        }
        try base.write(fd, bytes, path: path)
    }

    public func dataSync(_ fd: Int32, path: String) throws(StorageError) {
        if let fault = fault(.dataSync, path) { throw Self.error(fault, .dataSync, path) }
        try base.dataSync(fd, path: path)
    }

    public func close(_ fd: Int32) { base.close(fd) }

    public func resize(_ fd: Int32, to size: Int, path: String) throws(StorageError) {
        try base.resize(fd, to: size, path: path)
    }

    public func rename(_ source: String, to destination: String) throws(StorageError) {
        if let fault = fault(.rename, destination) { throw Self.error(fault, .rename, destination) }
        try base.rename(source, to: destination)
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        if let fault = fault(.syncDirectory, path) { throw Self.error(fault, .syncDirectory, path) }
        try base.syncDirectory(path)
    }

    public func truncate(_ path: String, to size: Int) throws(StorageError) {
        if let fault = fault(.truncate, path) { throw Self.error(fault, .truncate, path) }
        try base.truncate(path, to: size)
    }

    public func remove(_ path: String) throws(StorageError) {
        if let fault = fault(.remove, path) { throw Self.error(fault, .remove, path) }
        try base.remove(path)
    }
}
