import Runtime
import Storage

/// A session of the embedded engine: a slot in the node's bounded pool (as a PostgreSQL backend
/// process is), carrying its own reusable payload buffers so a transfer allocates no more than
/// it must.
struct EmbeddedSession: Sendable {
    let id: Int
    let accountPayload: [UInt8]
}

/// Opens embedded sessions on one node; a session is healthy while its storage engine is open.
struct EmbeddedSessionFactory: SessionFactory {
    let storage: StorageEngine
    let payloadBytes: Int

    func makeSession(id: Int) async throws -> EmbeddedSession {
        EmbeddedSession(id: id, accountPayload: [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: payloadBytes))
    }

    func isHealthy(_ session: EmbeddedSession) async -> Bool {
        !storage.isClosed
    }

    func close(_ session: EmbeddedSession) async {}
}
