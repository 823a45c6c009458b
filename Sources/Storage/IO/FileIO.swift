import Foundation

/// Small file helpers shared by the WAL and checkpoints; every failure names its path.
enum FileIO {
    static func ioError(_ path: String, _ error: any Error) -> StorageError {
        .io(path: path, message: "\(error)")
    }

    static func readAll(_ path: String) throws(StorageError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StorageError.io(path: path, message: "cannot read")
        }
        return [UInt8](data)
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
