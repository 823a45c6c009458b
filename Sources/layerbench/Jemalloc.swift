import CJemalloc
import JemallocConfig

/// Reads jemalloc's statistics through `mallctl`: the proof that jemalloc is the allocator of
/// this executable, and the memory figures a run reports.
enum Jemalloc {
    /// jemalloc's version string, read at run time.
    static var version: String {
        var pointer: UnsafePointer<CChar>?
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &pointer, &size, nil, 0) == 0, let pointer else { return "unavailable" }
        return String(cString: pointer)
    }

    /// The options this executable gives jemalloc (`malloc_conf`).
    static var configured: String { String(cString: layerbench_jemalloc_conf()) }

    /// The page decay jemalloc runs with, read back from it (`opt.dirty_decay_ms`,
    /// `opt.muzzy_decay_ms`): "dirty_decay_ms 1000, muzzy_decay_ms 0".
    static var decay: String {
        func read(_ name: String) -> Int? {
            var value = 0
            var size = MemoryLayout<Int>.size
            return mallctl(name, &value, &size, nil, 0) == 0 ? value : nil
        }
        guard let dirty = read("opt.dirty_decay_ms"), let muzzy = read("opt.muzzy_decay_ms") else {
            return "unavailable"
        }
        return "dirty_decay_ms \(dirty), muzzy_decay_ms \(muzzy)"
    }

    /// Bytes allocated by the application, and bytes of physically resident pages.
    struct Stats: Sendable {
        var allocated: Int
        var active: Int
        var resident: Int
        var mapped: Int
    }

    /// Current statistics (refreshes jemalloc's cached counters first by advancing `epoch`).
    static func stats() -> Stats? {
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        func read(_ name: String) -> Int? {
            var value = 0
            var size = MemoryLayout<Int>.size
            return mallctl(name, &value, &size, nil, 0) == 0 ? value : nil
        }
        guard let allocated = read("stats.allocated"), let active = read("stats.active"),
            let resident = read("stats.resident"), let mapped = read("stats.mapped")
        else { return nil }
        return Stats(allocated: allocated, active: active, resident: resident, mapped: mapped)
    }
}
