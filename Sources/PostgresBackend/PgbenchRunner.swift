import Foundation
import PostgresCluster
import PostgresNIO
import Runtime
import WorkloadSpec

/// Runs `pgbench` (PostgreSQL 15's, from `/usr/lib/postgresql/15/bin`) against a region's
/// primary with a custom script: ``Script/function``, what the postgres backend's single-region
/// transfer sends (BEGIN at the same isolation; `SELECT lb_participate(...)`; END), or
/// ``Script/statements``, a statement per round trip (BEGIN; SELECT ... FOR UPDATE of both
/// accounts in key order; the two UPDATEs; the ledger INSERT; END). Same accounts (uniformly chosen, distinct), amounts, clients,
/// duration, prepared statements (`-M prepared`), and serialization/deadlock failures retried
/// (`--max-tries`, the spec's attempts). Ledger ids come from a sequence starting at 2^62, apart
/// from LayerBench's, so the ledger still accounts for every balance.
public struct PgbenchRunner: Sendable {
    /// The directory of the pgbench binary.
    public var directory: String

    /// A runner of the pgbench in `directory`.
    public init(directory: String = "/usr/lib/postgresql/15/bin") {
        self.directory = directory
    }

    /// What one run measured (pgbench's own summary lines).
    public struct Measurement: Sendable, Equatable {
        /// Clients (`-c`).
        public var clients: Int
        /// Threads (`-j`).
        public var threads: Int
        /// Seconds (`-T`).
        public var seconds: Int
        /// `number of transactions actually processed`.
        public var transactions: Int
        /// `number of failed transactions`.
        public var failed: Int
        /// `tps = ... (without initial connection time)`.
        public var tps: Double
        /// `latency average = ... ms`.
        public var latencyAverageMs: Double
        /// `latency stddev = ... ms`, when printed.
        public var latencyStddevMs: Double?
        /// The command line.
        public var command: String
        /// The script.
        public var script: String
    }

    /// Why pgbench could not be run or its output not read.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What happened, with pgbench's output.
        public var description: String
    }

    /// Which transaction the script runs.
    public enum Script: String, Sendable {
        /// A statement per round trip: BEGIN; SELECT ... FOR UPDATE; two UPDATEs; the ledger
        /// INSERT; END (five round trips; the classic pgbench way).
        case statements
        /// What the postgres backend's single-region transfer sends: BEGIN; `SELECT
        /// lb_participate(...)` (the same server function: locks in key order, funds check, the
        /// UPDATEs and the ledger INSERT); END (three round trips, the same server work).
        case function
    }

    /// The custom script for `isolation` and `amount`.
    public static func script(
        isolation: IsolationLevel, amount: WorkloadSpec.AmountRange, kind: Script = .statements,
        overdraft: Bool = false
    ) -> String {
        let level =
            switch isolation {
            case .readCommitted: "READ COMMITTED"
            case .repeatableRead: "REPEATABLE READ"
            case .serializable: "SERIALIZABLE"
            }
        if kind == .function {
            return """
                \\set a random(0, :naccounts - 1)
                \\set b (:a + random(1, :naccounts - 1)) % :naccounts
                \\set amount random(\(amount.min), \(amount.max))
                BEGIN ISOLATION LEVEL \(level);
                SELECT lb_participate(ARRAY[(:a)::bigint, (:b)::bigint], ARRAY[-(:amount)::bigint, (:amount)::bigint], \(overdraft), nextval('pgbench_ledger_id'), :a, :b, :amount, 0, NULL);
                END;

                """
        }
        return """
            \\set a random(0, :naccounts - 1)
            \\set b (:a + random(1, :naccounts - 1)) % :naccounts
            \\set amount random(\(amount.min), \(amount.max))
            BEGIN ISOLATION LEVEL \(level);
            SELECT id, balance FROM accounts WHERE id IN (:a, :b) ORDER BY id FOR UPDATE;
            UPDATE accounts SET balance = balance - :amount WHERE id = :a;
            UPDATE accounts SET balance = balance + :amount WHERE id = :b;
            INSERT INTO ledger (id, from_id, to_id, amount, ts) VALUES (nextval('pgbench_ledger_id'), :a, :b, :amount, 0);
            END;

            """
    }

    /// The SQL that prepares the server for the script (run once before pgbench).
    public static let setupSQL =
        "CREATE SEQUENCE IF NOT EXISTS pgbench_ledger_id START 4611686018427387904 MINVALUE 4611686018427387904"

    /// Runs pgbench for `seconds` seconds with `clients` clients on `dsn` over `accounts` accounts.
    public func run(
        dsn: PostgresDSN, accounts: Int, clients: Int, seconds: Int, isolation: IsolationLevel,
        amount: WorkloadSpec.AmountRange, maxTries: Int, threads: Int? = nil, kind: Script = .statements,
        overdraft: Bool = false
    ) async throws -> Measurement {
        let script = Self.script(isolation: isolation, amount: amount, kind: kind, overdraft: overdraft)
        let scriptPath = NSTemporaryDirectory() + "layerbench-pgbench-\(getpid())-\(UUID().uuidString.prefix(8)).sql"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scriptPath) }
        let threads = threads ?? max(1, min(clients, ProcessInfo.processInfo.activeProcessorCount))
        let arguments = [
            "-h", dsn.host, "-p", String(dsn.port), "-U", dsn.user, "-n", "-M", "prepared", "-c", String(clients),
            "-j", String(threads), "-T", String(seconds), "-D", "naccounts=\(accounts)",
            "--max-tries=\(max(1, maxTries))", "-f", scriptPath, dsn.database,
        ]
        let binary = directory + "/pgbench"
        let output = try await execute(arguments, password: dsn.password, seconds: seconds)
        let command = ([binary] + arguments.map { $0 == scriptPath ? "transfer.sql" : $0 }).joined(separator: " ")
        func number(after prefix: String) -> Double? {
            for line in output.split(separator: "\n") where line.hasPrefix(prefix) {
                let rest = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
                return Double(rest.split(separator: " ").first ?? "")
            }
            return nil
        }
        guard let processed = number(after: "number of transactions actually processed:"),
            let tps = number(after: "tps ="), let latency = number(after: "latency average =")
        else {
            throw Failure(description: "pgbench printed no summary:\n\(output)")
        }
        return Measurement(
            clients: clients, threads: threads, seconds: seconds, transactions: Int(processed),
            failed: Int(number(after: "number of failed transactions:") ?? 0), tps: tps, latencyAverageMs: latency,
            latencyStddevMs: number(after: "latency stddev ="), command: command, script: script)
    }

    /// Runs pgbench and returns its standard output and error; throws on a non-zero exit.
    /// (Through `PostgresTools`, which starts it with signals unblocked: pgbench's -T relies on
    /// SIGALRM.)
    func execute(_ arguments: [String], password: String?, seconds: Int) async throws -> String {
        let tools = PostgresTools(directory: directory)
        let (status, output) = try await tools.runClient(
            "pgbench", arguments, environment: password.map { ["PGPASSWORD": $0] } ?? [:],
            timeout: .seconds(seconds + 120))
        guard status == 0 else {
            throw Failure(description: "pgbench exited with status \(status):\n\(output)")
        }
        return output
    }
}

extension PostgresBackend {
    /// Creates what ``PgbenchRunner``'s script needs on `dsn` (the ledger id sequence).
    public static func preparePgbench(_ dsn: PostgresDSN) async throws {
        try await withConnection(to: dsn) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: PgbenchRunner.setupSQL), logger: quietLogger)
        }
    }
}
