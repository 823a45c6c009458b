import PostgresNIO

/// A statement was not sent because its connection had closed (08006).
///
/// postgres-nio writes a statement to its channel with no write promise: on a connection whose
/// channel has closed and whose handlers are gone, the write is dropped and the statement's own
/// promise is never completed, so its caller would wait for ever. Every statement LayerBench
/// sends on a pooled connection is therefore preceded by ``PostgresConnection/ensureOpen()``, and
/// no statement (a ROLLBACK after an error, say) follows a connection failure.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the connection to the server had closed before the statement was sent" }
}

extension PostgresConnection {
    /// Throws ``ConnectionClosed`` when the connection has closed (before sending a statement).
    func ensureOpen() throws {
        if isClosed { throw ConnectionClosed() }
    }
}

extension PostgresClient {
    /// A pooled connection for `body`, checked open first (the pool may hand out a connection
    /// whose server has just gone).
    func withOpenConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try connection.ensureOpen()
            return try await body(connection)
        }
    }
}
