import Engine
import PostgresBackend
import PostgresCluster
import Testing

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
