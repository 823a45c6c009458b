import Foundation

/// The state file of a running cluster (`cluster.json` in its directory): enough for
/// `cluster down` in a new process to stop every server and remove what `up` created.
public struct ClusterState: Codable, Sendable, Equatable {
    /// One server.
    public struct Server: Codable, Sendable, Equatable {
        /// The region it serves.
        public var region: String
        /// `primary`, `standby`, or `failed` (a primary `failover` crashed; never started again).
        public var role: String
        /// A name unique in the cluster (`us-east-primary`, `us-east-standby1`); a standby's
        /// `application_name`.
        public var name: String
        /// Its TCP port on 127.0.0.1.
        public var port: Int
        /// Its data directory.
        public var dataDirectory: String
        /// Its log file.
        public var logFile: String
        /// The postmaster's process id (0 until it started).
        public var pid: Int32

        /// Whether this is a region's primary.
        public var isPrimary: Bool { role == "primary" }

        /// The server's DSN for database `database`.
        public func dsn(database: String = PostgresCluster.databaseName) -> String {
            "postgres://\(PostgresCluster.superuser)@127.0.0.1:\(port)/\(database)"
        }
    }

    /// The spec's name.
    public var spec: String
    /// The cluster's directory.
    public var directory: String
    /// Whether standbys replicate asynchronously.
    public var asyncReplication: Bool
    /// Every server, primaries first within each region.
    public var servers: [Server]

    /// The state file's name inside the cluster's directory.
    public static let fileName = "cluster.json"

    /// Reads the state file of the cluster in `directory`, nil when there is none.
    public static func read(directory: String) throws(ClusterError) -> ClusterState? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(ClusterState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ClusterError(.directory, "cluster state \(path) cannot be read: \(error)")
        }
    }

    /// Writes the state file (atomically).
    func write() throws(ClusterError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ClusterError(.directory, "cluster state \(path) cannot be written: \(error)")
        }
    }

    /// The servers one line each (`us-east primary 127.0.0.1:5433 pid 42`).
    public var summary: String {
        servers.map { "\($0.region) \($0.role) 127.0.0.1:\($0.port) pid \($0.pid)" }.joined(separator: ", ")
    }
}
