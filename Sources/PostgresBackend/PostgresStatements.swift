import PostgresNIO

/// The prepared statements of a single-region transfer (postgres-nio prepares each once per
/// connection, then sends only Bind/Execute): BEGIN at the spec's isolation, the rows locked in
/// key order, one UPDATE per leg, the ledger INSERT returning the row's `xmin`, COMMIT.
enum PostgresStatements {
    /// `BEGIN ISOLATION LEVEL READ COMMITTED`.
    struct BeginReadCommitted: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_begin_rc"
        static let sql = "BEGIN ISOLATION LEVEL READ COMMITTED"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// `BEGIN ISOLATION LEVEL REPEATABLE READ`.
    struct BeginRepeatableRead: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_begin_rr"
        static let sql = "BEGIN ISOLATION LEVEL REPEATABLE READ"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// `BEGIN ISOLATION LEVEL SERIALIZABLE`.
    struct BeginSerializable: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_begin_ser"
        static let sql = "BEGIN ISOLATION LEVEL SERIALIZABLE"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// Locks the transfer's accounts in key order and reads their balances.
    struct LockAccounts: PostgresPreparedStatement {
        typealias Row = (Int64, Int64)
        static let name = "layerbench_lock_accounts"
        static let sql = "SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        static let bindingDataTypes: [PostgresDataType] = [.int8Array]
        var ids: [Int64]
        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Int64, Int64).self) }
    }

    /// Adds a leg's amount to its account's balance.
    struct UpdateBalance: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_update_balance"
        static let sql = "UPDATE accounts SET balance = balance + $2 WHERE id = $1"
        static let bindingDataTypes: [PostgresDataType] = [.int8, .int8]
        var id: Int64
        var amount: Int64
        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(id)
            bindings.append(amount)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// Inserts the ledger row and returns the `xmin` PostgreSQL gave it (the transaction's xid).
    struct InsertLedger: PostgresPreparedStatement {
        typealias Row = Int64
        static let name = "layerbench_insert_ledger"
        static let sql =
            "INSERT INTO ledger (id, from_id, to_id, amount, ts, legs) VALUES ($1, $2, $3, $4, $5, $6) "
            + "RETURNING xmin::text::bigint"
        static let bindingDataTypes: [PostgresDataType] = [.int8, .int8, .int8, .int8, .int8, .bytea]
        var id: Int64
        var from: Int64
        var to: Int64
        var amount: Int64
        var ts: Int64
        /// The encoded legs of a transfer of other than two legs (nil for two).
        var legs: ByteBuffer?
        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 6)
            bindings.append(id)
            bindings.append(from)
            bindings.append(to)
            bindings.append(amount)
            bindings.append(ts)
            bindings.append(legs)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
    }

    /// `COMMIT`.
    struct Commit: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_commit"
        static let sql = "COMMIT"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// `SELECT 1`: a round trip with no server work to speak of.
    struct Ping: PostgresPreparedStatement {
        typealias Row = Int32
        static let name = "layerbench_ping"
        static let sql = "SELECT 1"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int32.self) }
    }

    /// `ROLLBACK`.
    struct Rollback: PostgresPreparedStatement {
        typealias Row = ()
        static let name = "layerbench_rollback"
        static let sql = "ROLLBACK"
        func makeBindings() -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws {}
    }
}
