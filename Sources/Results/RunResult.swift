import Foundation

/// Everything one run of a spec measured: the machine, the effective spec and one
/// ``VariantResult`` per variant. Encoded as `run.json`, the input of `compare` and `gate`.
public struct RunResult: Codable, Sendable, Equatable {
    /// The `run.json` format this build writes; readers refuse newer versions.
    public static let currentFormatVersion = 1

    /// Version of the `run.json` format.
    public var formatVersion: Int
    /// The spec's name (its `name:` key, or file name).
    public var specName: String
    /// Unique id of the run, `yyyyMMdd-HHmmss-xxxx` (UTC time and four random hex digits).
    public var runID: String
    /// When the run started, ISO 8601 in UTC.
    public var startedAt: String
    /// The effective spec as YAML text, defaults filled in, so the run can be repeated.
    public var spec: String
    /// The machine the run was measured on.
    public var machine: MachineInfo
    /// Versions of the things measured: `layerbench`, `swift`, `postgres`, `jemalloc`, ...
    public var versions: [String: String]
    /// Which part of the load this driver process produced, `i/n` (`1/1` for a whole run).
    public var shard: String
    /// One result per variant, in the order the spec's matrix lists them.
    public var variants: [VariantResult]
    /// Why the run is partial (it was interrupted, so later variants are missing), or `nil` for a
    /// complete run.
    public var partial: String?
    /// The run ids this run was merged from (`layerbench merge`), in shard order, or `nil`.
    public var mergedFrom: [String]?
    /// Each class's measured median next to its critical-path minimum, or `nil` (runs recorded
    /// before it; the report writer computes it from the spec and the results).
    public var latencyFidelity: LatencyFidelity?

    /// A run result from its parts.
    public init(
        formatVersion: Int = RunResult.currentFormatVersion,
        specName: String,
        runID: String,
        startedAt: String,
        spec: String,
        machine: MachineInfo,
        versions: [String: String] = [:],
        shard: String = "1/1",
        variants: [VariantResult]
    ) {
        self.formatVersion = formatVersion
        self.specName = specName
        self.runID = runID
        self.startedAt = startedAt
        self.spec = spec
        self.machine = machine
        self.versions = versions
        self.shard = shard
        self.variants = variants
    }

    /// The variant with this name.
    public func variant(named name: String) -> VariantResult? {
        variants.first { $0.name == name }
    }

    /// Whether every check of every variant passed.
    public var checksPassed: Bool { variants.allSatisfy(\.checksPassed) }

    /// A new run id for a run starting at `date`: `yyyyMMdd-HHmmss-xxxx` in UTC, where `xxxx` is
    /// four hex digits from `suffix` (random when `nil`) so that runs started in the same second
    /// differ.
    public static func makeRunID(date: Date = Date(), suffix: UInt16? = nil) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let hex = String(suffix ?? UInt16.random(in: 0...UInt16.max), radix: 16)
        return pad(parts.year, 4) + pad(parts.month, 2) + pad(parts.day, 2) + "-" + pad(parts.hour, 2)
            + pad(parts.minute, 2) + pad(parts.second, 2) + "-"
            + String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// `date` as an ISO 8601 timestamp in UTC, the form of ``startedAt``.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
