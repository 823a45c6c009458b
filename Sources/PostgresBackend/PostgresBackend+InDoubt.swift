import Engine
import PostgresNIO
import WorkloadSpec

extension PostgresBackend {
    /// What one in-doubt resolution did.
    public struct InDoubtResolution: Sendable, Hashable {
        /// Prepared transactions committed (their coordinator had decided commit).
        public var committed = 0
        /// Prepared transactions rolled back (decided abort, or no decision: presumed abort, the
        /// abort written first so a late coordinator reads it).
        public var aborted = 0

        /// Creates a resolution.
        public init(committed: Int = 0, aborted: Int = 0) {
            self.committed = committed
            self.aborted = aborted
        }

        /// Both counts.
        public var total: Int { committed + aborted }
    }

    /// Resolves every transaction this backend's coordinators left prepared (their gid starts with
    /// ``gidPrefix``) on every primary: looks up its decision in the coordinator region's decision
    /// log, writing an abort there first when there is none (the first decision wins, so a
    /// coordinator still running reads the abort and aborts too), then runs `COMMIT PREPARED` or
    /// `ROLLBACK PREPARED`. Run at start-up (``load(accounts:initialBalance:progress:)``), by the
    /// audit, and callable after a coordinator crash; not while transfers run (it would abort a
    /// live transaction between its PREPAREs and its decision, safely but needlessly).
    ///
    /// - Throws: the first error of a server that cannot be reached or refuses a statement.
    @discardableResult
    public func resolveInDoubt() async throws -> InDoubtResolution {
        let regions = deploymentRegions
        var resolution = InDoubtResolution()
        for (index, region) in regions.enumerated() {
            let done = try await withConnection(region.primary) { connection in
                var gids: [String] = []
                for try await gid in try await connection.query(
                    """
                    SELECT gid FROM pg_prepared_xacts
                    WHERE database = current_database() AND starts_with(gid, \(Self.gidPrefix)) ORDER BY prepared
                    """, logger: logger
                ).decode(String.self) {
                    gids.append(gid)
                }
                var done = InDoubtResolution()
                for gid in gids {
                    // A gid naming no region of this deployment is not ours to resolve: left
                    // prepared (and counted by the audit).
                    guard let coordinator = Self.coordinator(ofGID: gid), regions.indices.contains(coordinator) else {
                        continue
                    }
                    let commit: Bool
                    if coordinator == index {
                        commit = try await Self.decideInDoubt(gid, on: connection, logger: logger)
                    } else {
                        commit = try await withConnection(regions[coordinator].primary) { coordinatorConnection in
                            try await Self.decideInDoubt(gid, on: coordinatorConnection, logger: logger)
                        }
                    }
                    let sql = (commit ? "COMMIT PREPARED '" : "ROLLBACK PREPARED '") + gid + "'"
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                    } catch let error
                        where [Self.undefinedObjectSQLState, Self.objectInUseSQLState].contains(
                            Self.sqlState(of: error))
                    {
                        // Resolved meanwhile, or being resolved now, by a phase two that arrived late.
                        continue
                    }
                    if commit { done.committed += 1 } else { done.aborted += 1 }
                }
                return done
            }
            twoPhaseCounters[index].update {
                $0.inDoubtCommitted += UInt64(done.committed)
                $0.inDoubtAborted += UInt64(done.aborted)
            }
            resolution.committed += done.committed
            resolution.aborted += done.aborted
        }
        return resolution
    }

    /// The decision for an in-doubt `gid`: the one written, else an abort written now.
    private static func decideInDoubt(_ gid: String, on connection: PostgresConnection, logger: Logger) async throws
        -> Bool
    {
        try await connection.query(
            PostgresQuery(
                unsafeSQL:
                    "CREATE TABLE IF NOT EXISTS \(decisionTable) "
                    + "(gid text PRIMARY KEY, commit boolean NOT NULL, ts bigint NOT NULL)"),
            logger: logger)
        return try await decide(gid, commit: false, timestamp: 0, on: connection, logger: logger)
    }
}
