import PostgresNIO
import Runtime

/// The prepared statements of a single-region transfer (postgres-nio prepares each once per
/// connection, then sends only Bind/Execute): BEGIN at the spec's isolation, the rows locked in
/// key order, one UPDATE per leg, the ledger INSERT returning the row's `xmin`, COMMIT.
enum PostgresStatements {
    /// `BEGIN` at `isolation` on `connection` (one prepared statement per level).
    static func begin(_ isolation: IsolationLevel, on connection: PostgresConnection, logger: Logger) async throws {
        switch isolation {
        case .readCommitted:
            _ = try await connection.execute(BeginReadCommitted(), logger: logger)
        case .repeatableRead:
            _ = try await connection.execute(BeginRepeatableRead(), logger: logger)
        case .serializable:
            _ = try await connection.execute(BeginSerializable(), logger: logger)
        }
    }

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

    /// A two-phase participant's work in one round trip (the function `lb_participate`, created
    /// by the load): locks its accounts in key order, checks them, applies its legs, inserts the
    /// ledger row when it holds it. Returns the ledger row's `xmin`, 0 without a ledger row, -1
    /// when a debit would overdraw (rejected), -2 when an account is missing (invalid).
    struct Participate: PostgresPreparedStatement {
        typealias Row = Int64
        static let name = "layerbench_participate"
        static let sql = "SELECT lb_participate($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        static let bindingDataTypes: [PostgresDataType] = [
            .int8Array, .int8Array, .bool, .int8, .int8, .int8, .int8, .int8, .bytea,
        ]
        var ids: [Int64]
        var amounts: [Int64]
        var overdraft: Bool
        /// The ledger row, when this participant holds it.
        var ledger: InsertLedger?
        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 9)
            bindings.append(ids)
            bindings.append(amounts)
            bindings.append(overdraft)
            bindings.append(ledger?.id)
            bindings.append(ledger?.from)
            bindings.append(ledger?.to)
            bindings.append(ledger?.amount)
            bindings.append(ledger?.ts)
            bindings.append(ledger?.legs)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }

        /// The function, created by every load.
        static let function = """
            CREATE OR REPLACE FUNCTION lb_participate(
                ids bigint[], amounts bigint[], overdraft boolean, ledger_id bigint, ledger_from bigint,
                ledger_to bigint, ledger_amount bigint, ledger_ts bigint, ledger_legs bytea)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                seen int := 0;
                r record;
                i int;
                x bigint := 0;
            BEGIN
                FOR r IN SELECT a.id, a.balance FROM accounts a WHERE a.id = ANY(ids) ORDER BY a.id FOR UPDATE LOOP
                    seen := seen + 1;
                    i := array_position(ids, r.id);
                    IF NOT overdraft AND amounts[i] < 0 AND r.balance + amounts[i] < 0 THEN
                        RETURN -1;
                    END IF;
                END LOOP;
                IF seen <> cardinality(ids) THEN
                    RETURN -2;
                END IF;
                FOR i IN 1..cardinality(ids) LOOP
                    UPDATE accounts SET balance = balance + amounts[i] WHERE id = ids[i];
                END LOOP;
                IF ledger_id IS NOT NULL THEN
                    INSERT INTO ledger (id, from_id, to_id, amount, ts, legs)
                    VALUES (ledger_id, ledger_from, ledger_to, ledger_amount, ledger_ts, ledger_legs)
                    RETURNING xmin::text::bigint INTO x;
                END IF;
                RETURN x;
            END
            $$
            """
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
