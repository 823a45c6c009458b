#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The CPU time this process has used (user + system, every thread), from `getrusage`: what the
/// measured phase cost the driver (and, for the embedded backend, the engine in the same process).
enum ProcessCPU {
    /// User plus system CPU time in nanoseconds since the process started.
    static func nanos() -> UInt64 {
        var usage = rusage()
        #if canImport(Glibc)
            let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
            let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return 0 }
        func nanos(_ time: timeval) -> UInt64 {
            UInt64(max(0, time.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, Int64(time.tv_usec))) &* 1_000
        }
        return nanos(usage.ru_utime) &+ nanos(usage.ru_stime)
    }
}
