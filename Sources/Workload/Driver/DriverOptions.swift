import Storage

/// How the driver runs, beyond what the spec says.
public struct DriverOptions: Sendable {
    /// Where node data directories go (a fresh subdirectory per variant).
    public var dataDirectory: String
    /// This driver's shard of the client population: index (0-based) and count.
    public var shard: (index: Int, count: Int)
    /// Called once a second (and at phase changes) with progress.
    public var progress: @Sendable (DriverProgress) -> Void
    /// Extra gauges read each second and at the end of each variant (the CLI passes jemalloc's
    /// statistics).
    public var memoryGauges: @Sendable () -> [String: Double]
    /// The clock every phase, wait and latency is measured on.
    public var clock: any EngineClock
    /// A stop the caller may request (on SIGINT or SIGTERM).
    public var interrupt: RunInterrupt?

    /// Creates options.
    public init(
        dataDirectory: String, shard: (index: Int, count: Int) = (0, 1),
        progress: @escaping @Sendable (DriverProgress) -> Void = { _ in },
        memoryGauges: @escaping @Sendable () -> [String: Double] = { [:] },
        clock: any EngineClock = SystemClock.shared, interrupt: RunInterrupt? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.shard = shard
        self.progress = progress
        self.memoryGauges = memoryGauges
        self.clock = clock
        self.interrupt = interrupt
    }
}

/// A spec the driver cannot run (yet), with the reason and the key to change.
public struct DriverError: Error, Sendable, CustomStringConvertible {
    /// The spec key involved.
    public var key: String
    /// What is wrong.
    public var message: String

    /// Creates the error.
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}
