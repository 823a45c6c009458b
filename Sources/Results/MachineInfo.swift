import Foundation

/// The machine a run was measured on, recorded so that runs on different hardware are not
/// compared blindly.
public struct MachineInfo: Codable, Sendable, Equatable {
    /// Logical processors available to the process.
    public var cores: Int
    /// Physical memory in bytes.
    public var memoryBytes: UInt64
    /// Operating system name and version.
    public var os: String
    /// Host name.
    public var hostname: String
    /// CPU model name, or `unknown`.
    public var cpuModel: String

    /// A machine description from its parts.
    public init(cores: Int, memoryBytes: UInt64, os: String, hostname: String, cpuModel: String) {
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.os = os
        self.hostname = hostname
        self.cpuModel = cpuModel
    }

    /// The machine this process runs on: from `/proc` and `/etc/os-release` on Linux,
    /// `ProcessInfo` (and `sysctl` for the CPU model) elsewhere.
    public static func current() -> MachineInfo {
        let process = ProcessInfo.processInfo
        var info = MachineInfo(
            cores: process.activeProcessorCount,
            memoryBytes: process.physicalMemory,
            os: process.operatingSystemVersionString,
            hostname: process.hostName,
            cpuModel: "unknown"
        )
        #if os(Linux)
            if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                let model = field("model name", in: cpuinfo, separator: ":")
            {
                info.cpuModel = model
            }
            if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
                let total = field("MemTotal", in: meminfo, separator: ":"),
                let kib = UInt64(total.split(separator: " ").first ?? "")
            {
                info.memoryBytes = kib * 1024
            }
            if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
                let pretty = field("PRETTY_NAME", in: release, separator: "=")
            {
                let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                info.os =
                    pretty.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    + (kernel.map { " (Linux \($0))" } ?? "")
            }
            if let hostname = try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8) {
                let trimmed = hostname.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { info.hostname = trimmed }
            }
        #elseif canImport(Darwin)
            var size = 0
            if sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 {
                var buffer = [CChar](repeating: 0, count: size)
                if sysctlbyname("machdep.cpu.brand_string", &buffer, &size, nil, 0) == 0 {
                    info.cpuModel = String(cString: buffer)
                }
            }
        #endif
        return info
    }

    /// This machine's physical memory in bytes, read alone (``current()`` also resolves the host
    /// name, which can block on a DNS lookup).
    public static func physicalMemoryBytes() -> UInt64 {
        ProcessInfo.processInfo.physicalMemory
    }

    /// The value of the first `key<separator>value` line of `text`, trimmed.
    static func field(_ key: String, in text: String, separator: Character) -> String? {
        for line in text.split(separator: "\n") {
            guard let index = line.firstIndex(of: separator) else { continue }
            if line[..<index].trimmingCharacters(in: .whitespaces) == key {
                return line[line.index(after: index)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
