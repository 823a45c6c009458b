import Engine
import PostgresBackend
import PostgresCluster
import PostgresNIO
import Testing
import WorkloadSpec

/// Runs `body` with a backend on `deployment` of the running `cluster`, loaded with `accounts`
/// accounts of `initialBalance`; always shuts the backend down and brings the cluster down
/// afterwards (on failure too).
func withLoadedBackend(
    _ configuration: EngineConfiguration, deployment: PostgresDeployment, cluster: PostgresCluster,
    accounts: Int, initialBalance: Int64, _ body: (PostgresBackend) async throws -> Void
) async throws {
    do {
        let backend = try PostgresBackend(configuration: configuration, deployment: deployment)
        do {
            #expect(try await backend.load(accounts: accounts, initialBalance: initialBalance) { _ in } == accounts)
            try await body(backend)
        } catch {
            try? await backend.shutdown()
            throw error
        }
        try await backend.shutdown()
    } catch {
        _ = try? await cluster.down()
        throw error
    }
    try await cluster.down()
}

/// The single integer `sql` returns on `dsn` (-1 when it returns no row).
func scalar(_ dsn: PostgresDSN, _ sql: String) async throws -> Int64 {
    try await PostgresBackend.withConnection(to: dsn) { connection in
        var value: Int64 = -1
        for try await v in try await connection.query(
            PostgresQuery(unsafeSQL: sql), logger: PostgresBackend.quietLogger
        ).decode(
            Int64.self)
        {
            value = v
        }
        return value
    }
}
