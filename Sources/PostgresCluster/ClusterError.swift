/// Why `cluster up` or `cluster down` failed, with a message naming the server, port, path or
/// log involved.
public struct ClusterError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure (for tests and callers that react differently).
    public enum Kind: Sendable, Equatable {
        /// The PostgreSQL client binaries are missing.
        case binariesMissing
        /// The spec cannot be turned into servers (e.g. an unresolved async_replication matrix).
        case invalidTopology
        /// The directory is not usable (not ours, not empty, not writable).
        case directory
        /// A cluster already runs (or was left) in the directory.
        case alreadyRunning
        /// No cluster state in the directory.
        case notRunning
        /// A port chosen for a server is taken.
        case portBusy(Int)
        /// A PostgreSQL tool failed, or a server did not start or stop in time.
        case server
    }

    /// The kind of failure.
    public var kind: Kind
    /// The message shown to the user.
    public var message: String

    /// An error of `kind` saying `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
