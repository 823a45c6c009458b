import Runtime
import Storage

/// The bank transfer as a transaction body, shared by every backend path (single transaction
/// or batch member): lock both accounts in key order (so transfers never deadlock each other),
/// check funds, write both balances, and insert a ledger row (as pgbench's TPC-B history) that
/// the audit uses to prove every acknowledged transfer applied exactly once.
enum Transfer {
    /// Ledger rows live above this key; accounts below it.
    static let ledgerBase: AccountID = 1 << 63

    /// Why a transfer was refused: business outcomes, not engine errors.
    enum Rejection: Error, Sendable {
        case insufficientFunds(account: AccountID, balance: Int64, amount: Int64)
    }

    /// A request no bank would execute, refused before any write whatever the caller: reported
    /// as failed with SQLSTATE 22023 (invalid parameter value), which the driver counts as
    /// invalid input. (A transfer to the same account would read the row twice and write
    /// `balance + amount` last, creating money.)
    enum InvalidRequest: Error, Sendable, Hashable, CustomStringConvertible {
        case sameAccount(AccountID)
        case nonPositiveAmount(Int64)
        /// A key in the ledger's range, which no account may use.
        case notAnAccount(AccountID)
        /// An account key with no row.
        case noSuchAccount(AccountID)

        /// The SQLSTATE a client sees.
        static let sqlState = TransferResult.invalidInputSQLState

        var description: String {
            switch self {
            case .sameAccount(let account): "a transfer from account \(account) to itself"
            case .nonPositiveAmount(let amount): "a transfer of a non-positive amount (\(amount))"
            case .notAnAccount(let key): "key \(key) is a ledger row, not an account"
            case .noSuchAccount(let account): "account \(account) does not exist"
            }
        }
    }

    /// Checks what can be checked without reading: distinct accounts, a positive amount, and
    /// keys below the ledger's range.
    static func validate(_ request: TransferRequest) throws(InvalidRequest) {
        guard request.from != request.to else { throw .sameAccount(request.from) }
        guard request.amount > 0 else { throw .nonPositiveAmount(request.amount) }
        guard request.from < ledgerBase else { throw .notAnAccount(request.from) }
        guard request.to < ledgerBase else { throw .notAnAccount(request.to) }
    }

    static func ledgerKey(_ id: UInt64) -> AccountID { ledgerBase | (id & ~ledgerBase) }

    static func ledgerPayload(from: AccountID, to: AccountID, padding: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + padding)
        withUnsafeBytes(of: from.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: to.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: repeatElement(0, count: max(0, padding - 16)))
        return bytes
    }

    static func decodeLedger(_ payload: [UInt8]) -> (from: AccountID, to: AccountID)? {
        guard payload.count >= 16 else { return nil }
        return payload.withUnsafeBytes { raw in
            (
                AccountID(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                AccountID(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
    }

    static func execute(
        _ request: TransferRequest, in context: some TransactionContext, overdraft: Bool, payload: [UInt8],
        ledgerPayload: [UInt8]
    ) async throws {
        try validate(request)
        let (first, second) = request.from < request.to ? (request.from, request.to) : (request.to, request.from)
        guard let firstRow = try await context.readForUpdate(first, wait: nil) else {
            throw InvalidRequest.noSuchAccount(first)
        }
        guard let secondRow = try await context.readForUpdate(second, wait: nil) else {
            throw InvalidRequest.noSuchAccount(second)
        }
        let source = request.from == first ? firstRow : secondRow
        let target = request.from == first ? secondRow : firstRow
        if !overdraft, source.balance < request.amount {
            throw Rejection.insufficientFunds(account: request.from, balance: source.balance, amount: request.amount)
        }
        try await context.write(
            request.from, Row(balance: source.balance - request.amount, payload: payload), wait: nil)
        try await context.write(request.to, Row(balance: target.balance + request.amount, payload: payload), wait: nil)
        try await context.write(ledgerKey(request.id), Row(balance: request.amount, payload: ledgerPayload), wait: nil)
    }
}
