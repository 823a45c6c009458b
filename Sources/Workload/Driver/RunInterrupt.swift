import Synchronization

/// A request to stop a run early (SIGINT or SIGTERM): the driver ends the measured phase of the
/// variant it is in, skips the variant's audit and returns ``RunInterrupted``; the caller reports
/// the variants that finished.
public final class RunInterrupt: Sendable {
    private let signal = Atomic<Int32>(0)

    /// A request not yet made.
    public init() {}

    /// Requests the stop; returns false when one was already requested (a second Ctrl-C).
    @discardableResult
    public func request(signal number: Int32) -> Bool {
        signal.compareExchange(expected: 0, desired: number, ordering: .relaxed).exchanged
    }

    /// Whether a stop was requested.
    public var isRequested: Bool { signal.load(ordering: .relaxed) != 0 }

    /// The signal that requested the stop, or 0.
    public var signalNumber: Int32 { signal.load(ordering: .relaxed) }
}

/// Thrown by ``WorkloadDriver/run(variant:index:of:makeBackend:)`` when a ``RunInterrupt`` stopped the
/// variant before it finished (its backend has been shut down).
public struct RunInterrupted: Error, Sendable, CustomStringConvertible {
    /// The variant that was stopped.
    public var variant: String

    public var description: String { "variant \(variant) was interrupted before it finished" }
}
