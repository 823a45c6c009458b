import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Directory helpers the harness modules share (the driver's data directory, the report's output
/// check): `mkdir -p` with the failing errno, and the C library's text for an errno.
package enum FileSystemSupport {
    /// `mkdir -p`; returns 0 or the errno of the step that failed.
    package static func makeDirectories(_ path: String) -> Int32 {
        var current = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            current += (current.isEmpty || current.hasSuffix("/") ? "" : "/") + component
            if mkdir(current, 0o755) != 0 {
                let code = errno
                var isDirectory: ObjCBool = false
                if code == EEXIST, FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory),
                    isDirectory.boolValue
                {
                    continue
                }
                return code == EEXIST ? ENOTDIR : code
            }
        }
        return 0
    }

    /// The C library's text for an errno value, lowercased as in the rest of a diagnostic.
    package static func describe(errno code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}
