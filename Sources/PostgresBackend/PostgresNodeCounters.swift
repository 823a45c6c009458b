import Synchronization

/// One PostgreSQL node's cumulative counters as the client sees them: transactions, statements,
/// retries by SQLSTATE, failures by SQLSTATE, pool acquisitions and waits, the time spent in
/// statement round trips (L0) and in retry backoff. Guarded by a mutex (never held across an
/// `await`).
final class PostgresNodeCounters: Sendable {
    struct Values: Sendable {
        var commits: UInt64 = 0
        var rollbacks: UInt64 = 0
        var rejected: UInt64 = 0
        var statements: UInt64 = 0
        var statementNanos: UInt64 = 0
        var retries: UInt64 = 0
        var retriesBySQLState: [String: UInt64] = [:]
        var failuresBySQLState: [String: UInt64] = [:]
        var retriesExhausted: UInt64 = 0
        var backoffNanos: UInt64 = 0
        var poolAcquires: UInt64 = 0
        var poolWaits: UInt64 = 0
        var poolWaitNanos: UInt64 = 0
        var leased: Int = 0
        var leasedHighWater: Int = 0
    }

    private let state = Mutex(Values())

    /// The values now.
    var values: Values { state.withLock { $0 } }

    /// Records a lease request; true when every connection was leased then (the request waits).
    func acquiring(poolSize: Int) -> Bool {
        state.withLock { values in
            values.poolAcquires += 1
            let waits = values.leased >= poolSize
            if waits { values.poolWaits += 1 }
            return waits
        }
    }

    /// Records a lease granted after `waitNanos`.
    func leased(waitNanos: UInt64) {
        state.withLock { values in
            values.leased += 1
            values.leasedHighWater = max(values.leasedHighWater, values.leased)
            values.poolWaitNanos &+= waitNanos
        }
    }

    /// Records a lease returned.
    func released() {
        state.withLock { $0.leased -= 1 }
    }

    /// Records an attempt's statements and their round-trip time.
    func statements(_ count: Int, nanos: UInt64) {
        state.withLock { values in
            values.statements &+= UInt64(count)
            values.statementNanos &+= nanos
        }
    }

    /// Records how an attempt ended.
    func attemptEnded(_ outcome: PostgresBackend.AttemptOutcome) {
        state.withLock { values in
            switch outcome {
            case .committed: values.commits += 1
            case .rejected: values.rejected += 1
            case .invalid: values.rollbacks += 1
            case .failed(let code):
                values.rollbacks += 1
                values.failuresBySQLState[code, default: 0] += 1
            }
        }
    }

    /// Records a retry of `sqlState` after `backoffNanos`.
    func retried(_ sqlState: String, backoffNanos: UInt64) {
        state.withLock { values in
            values.retries += 1
            values.retriesBySQLState[sqlState, default: 0] += 1
            values.backoffNanos &+= backoffNanos
        }
    }

    /// Records a transfer that gave up with a retryable error (attempts or time exhausted).
    func exhausted() {
        state.withLock { $0.retriesExhausted += 1 }
    }

    /// The counters by name, as `BackendCounters` carries them.
    func named() -> [String: Double] {
        let v = values
        var named: [String: Double] = [
            "pg_transactions": Double(v.commits + v.rollbacks + v.rejected),
            "pg_commits": Double(v.commits),
            "pg_rollbacks": Double(v.rollbacks + v.rejected),
            "pg_rejected": Double(v.rejected),
            "pg_statements": Double(v.statements),
            "pg_statement_ms": Double(v.statementNanos) / 1e6,
            "retries": Double(v.retries),
            "retries_exhausted": Double(v.retriesExhausted),
            "retry_backoff_ms": Double(v.backoffNanos) / 1e6,
            "pool_acquires": Double(v.poolAcquires),
            "pool_waits": Double(v.poolWaits),
            "pool_wait_ms": Double(v.poolWaitNanos) / 1e6,
        ]
        for (code, count) in v.retriesBySQLState { named["retries_\(code)"] = Double(count) }
        for (code, count) in v.failuresBySQLState { named["pg_errors_\(code)"] = Double(count) }
        return named
    }
}
