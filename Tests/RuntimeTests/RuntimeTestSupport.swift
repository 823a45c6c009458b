import Foundation
import Runtime
import Storage
import Synchronization
import Testing

/// Runs `body` with a fresh directory under `NSTemporaryDirectory()`, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("runtime-tests-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Runs `body` with a transaction manager over a fresh storage engine (no fsync by default: the
/// tests that are about durability ask for it), closed and removed afterwards.
func withRuntime<T>(
    durability: Durability = .none, options: RuntimeOptions = RuntimeOptions(),
    clock: any EngineClock = SystemClock.shared, _ body: (TransactionManager) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let storage = try StorageEngine(directory: directory, options: StorageOptions(durability: durability))
        defer { try? storage.close() }
        return try await body(TransactionManager(storage: storage, options: options, clock: clock))
    }
}

/// Runs `body`, which must end in one wait with a timeout on `clock` (a lock wait, a session
/// acquire), in a task; once its timer is armed, moves `clock` past `timeout` and returns the
/// SQLSTATE the body failed with. The order comes from the clock, not from real time.
func errorCodeAfterTimeout(
    _ clock: ManualClock, _ timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> Void
) async -> TransactionError.Code? {
    let task = Task { await errorCode(sourceLocation: sourceLocation) { try await body() } }
    await waitUntil("the wait arms its timer", sourceLocation: sourceLocation) { clock.sleeperCount == 1 }
    clock.advance(by: timeout.clampedNanoseconds &- 1)
    #expect(clock.sleeperCount == 1, "the wait does not time out before its deadline", sourceLocation: sourceLocation)
    clock.advance(by: 1)
    return await task.value
}

/// Runtime options whose lock timeout no test reaches by accident on a loaded machine.
let patientOptions = RuntimeOptions(lockTimeout: .seconds(30))

/// Writes `rows` in one committed transaction.
func seedRows(_ manager: TransactionManager, _ rows: [AccountID: Int64]) async throws {
    let transaction = try manager.begin(.readCommitted)
    for (key, balance) in rows.sorted(by: { $0.key < $1.key }) {
        try await transaction.write(key, Row(balance: balance))
    }
    try await manager.commit(transaction)
}

/// The committed row `key`, read by a fresh read-committed transaction.
func committedRow(_ manager: TransactionManager, _ key: AccountID) async throws -> Row? {
    let transaction = try manager.begin(.readCommitted)
    let row = try await transaction.read(key)
    try await manager.commit(transaction)
    return row
}

/// The committed balance of `key`.
func committedBalance(_ manager: TransactionManager, _ key: AccountID) async throws -> Int64? {
    try await committedRow(manager, key)?.balance
}

/// The SQLSTATE code of the `TransactionError` that `body` throws, or nil if it throws nothing.
/// Any other error is recorded as an issue.
func errorCode(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> TransactionError.Code? {
    do {
        try await body()
        return nil
    } catch let error as TransactionError {
        return error.code
    } catch {
        Issue.record("expected a TransactionError, got \(error)", sourceLocation: sourceLocation)
        return .internalError
    }
}

/// The SQLSTATE code an execution ended with, nil if it committed.
func errorCode<Value>(of execution: Execution<Value>) -> TransactionError.Code? {
    errorCode(of: execution.result)
}

/// The SQLSTATE code of a failed result (`internalError` for an error that is not a
/// `TransactionError`), nil for a success.
func errorCode<Value>(of result: Result<Value, any Error>) -> TransactionError.Code? {
    guard case .failure(let error) = result else { return nil }
    return (error as? TransactionError)?.code ?? .internalError
}

/// Waits until `condition` holds: how a test knows another task has reached a state (queued for
/// a lock, waiting for a session) before it takes its next step. The polling pause only paces
/// the loop; the order of the steps comes from the condition. Bounded: records an issue after
/// about 20 s.
func waitUntil(
    _ description: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool
) async {
    for round in 0..<20_000 {
        if condition() { return }
        if round < 100 { await Task.yield() } else { try? await Task.sleep(for: .milliseconds(1)) }
    }
    Issue.record("gave up waiting until \(description)", sourceLocation: sourceLocation)
}

/// A barrier for `parties` tasks: each `arrive` returns once all have arrived.
actor Barrier {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        arrived += 1
        if arrived == parties {
            for continuation in waiting { continuation.resume() }
            waiting = []
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
    }
}

/// A thread-safe log of events, to assert the order in which concurrent tasks did something.
final class EventLog<Event: Sendable>: Sendable {
    private let events = Mutex<[Event]>([])

    func append(_ event: Event) { events.withLock { $0.append(event) } }

    var all: [Event] { events.withLock { $0 } }
}

/// Runs the body of a property and records what it throws as an issue. `propertyCheck`
/// (swift-property-based 2.0) runs its body under `try?`, so an error thrown there would pass
/// the check silently.
func failOnThrow(_ context: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void)
    async
{
    do { try await body() } catch { Issue.record(error, "\(context)", sourceLocation: sourceLocation) }
}
