import Engine
import Foundation
import PostgresNIO
import Storage
import Synchronization
import WorkloadSpec

extension PostgresBackend {
    /// Parallel COPY streams per region during the load.
    static let loadStreams = 4
    /// Bytes of COPY text sent per write.
    static let copyChunkBytes = 1 << 20

    /// The schema, recreated by every load (a variant starts from fresh tables). The accounts'
    /// primary key is added after the COPY (one index build instead of 10M index inserts).
    static let schema = [
        "DROP TABLE IF EXISTS ledger",
        "DROP TABLE IF EXISTS accounts",
        "CREATE TABLE accounts (id bigint NOT NULL, region int NOT NULL, balance bigint NOT NULL, payload bytea)",
        "CREATE TABLE ledger (id bigint PRIMARY KEY, from_id bigint NOT NULL, to_id bigint NOT NULL, "
            + "amount bigint NOT NULL, ts bigint NOT NULL, legs bytea)",
        // The L2 coordinator's decision log (on every primary: each region's coordinator writes
        // to its own), and a two-phase participant's work as one function call.
        "DROP TABLE IF EXISTS \(decisionTable)",
        "CREATE TABLE \(decisionTable) (gid text PRIMARY KEY, commit boolean NOT NULL, ts bigint NOT NULL)",
        PostgresStatements.Participate.function,
    ]

    /// Creates the schema on every region's primary, then loads each region's accounts (the
    /// placement's contiguous range) with `COPY accounts FROM STDIN` over ``loadStreams``
    /// parallel connections, adds the primary key, analyses the table and checkpoints.
    public func load(accounts count: Int, initialBalance: Int64, progress: @Sendable (Int) -> Void) async throws -> Int
    {
        // Transactions a crashed coordinator left prepared hold row locks the DROPs below would
        // wait for: resolve them from the decision log first.
        try await resolveInDoubt()
        let placement = accountPlacement(accounts: count)
        setPlacement(placement)
        let begin = clock.nowNanos()
        let loaded = Atomic<Int>(0)
        let payloadHex = String(repeating: "00", count: configuration.payloadBytes)
        for (index, region) in deploymentRegions.enumerated() {
            try await withConnection(region.primary) { connection in
                for statement in Self.schema {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            let range = placement.accounts(in: index)
            let streams = max(1, min(Self.loadStreams, range.count / 10_000))
            let share = (range.count + streams - 1) / max(1, streams)
            // Progress is reported as each stream finishes (the callback cannot escape into the
            // streams' tasks).
            try await withThrowingTaskGroup(of: Int.self) { group in
                for stream in 0..<streams {
                    let lower = range.lowerBound + stream * share
                    let upper = min(range.upperBound, lower + share)
                    guard lower < upper else { continue }
                    group.addTask {
                        try await self.copyAccounts(
                            lower..<upper, region: index, balance: initialBalance, payloadHex: payloadHex,
                            dsn: region.primary)
                        return upper - lower
                    }
                }
                for try await rows in group {
                    progress(loaded.add(rows, ordering: .relaxed).newValue)
                }
            }
            try await withConnection(region.primary) { connection in
                try await connection.query("ALTER TABLE accounts ADD PRIMARY KEY (id)", logger: logger)
                try await connection.query("ANALYZE accounts", logger: logger)
                // The load's dirty pages are written now, not by a checkpoint in the measured phase.
                try await connection.query("CHECKPOINT", logger: logger)
            }
        }
        let nanos = clock.nanosSince(begin)
        try await startWANRoutes()
        try await startTimestampOracle()
        let floor = try await measureRoundTripFloor()
        recordLoad(rows: loaded.load(ordering: .relaxed), nanos: nanos, floorNanos: floor)
        return loaded.load(ordering: .relaxed)
    }

    /// Streams `range`'s rows (`id, region, balance, payload`) in COPY text format.
    private func copyAccounts(
        _ range: Range<Int>, region: Int, balance: Int64, payloadHex: String, dsn: PostgresDSN
    ) async throws {
        try await withConnection(dsn) { connection in
            try await connection.copyFrom(
                table: "accounts", columns: ["id", "region", "balance", "payload"], logger: logger
            ) { writer in
                var buffer = ByteBuffer()
                buffer.reserveCapacity(Self.copyChunkBytes + 4096)
                let suffix = "\t\(region)\t\(balance)\t\\\\x\(payloadHex)\n"
                for id in range {
                    buffer.writeString(String(id))
                    buffer.writeString(suffix)
                    if buffer.readableBytes >= Self.copyChunkBytes {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        }
    }

    /// The smallest of 200 round trips of a trivial statement on the first primary, in
    /// nanoseconds: the part of each statement's measured L0 time that is not server work.
    private func measureRoundTripFloor() async throws -> UInt64 {
        guard let first = deploymentRegions.first else { return 0 }
        let clock = self.clock
        return try await withConnection(first.primary) { connection in
            var floor = UInt64.max
            for _ in 0..<200 {
                let begin = clock.nowNanos()
                for try await _ in try await connection.execute(PostgresStatements.Ping(), logger: logger) {}
                floor = min(floor, clock.nanosSince(begin))
            }
            return floor
        }
    }
}
