import Runtime
import Storage

/// The bank transfer as a transaction body, shared by every backend path (single transaction
/// or batch member): lock every leg's account in key order (so transfers never deadlock each
/// other), check funds, write every balance, and insert one ledger row (as pgbench's TPC-B
/// history) recording the legs, which the audit uses to prove every acknowledged transfer
/// applied exactly once.
package enum Transfer {
    /// Ledger rows live above this key; accounts below it.
    package static let ledgerBase: AccountID = 1 << 63

    /// Why a transfer was refused: business outcomes, not engine errors.
    enum Rejection: Error, Sendable {
        case insufficientFunds(account: AccountID, balance: Int64, amount: Int64)
    }

    /// A request no bank would execute, refused before any write whatever the caller: reported
    /// as failed with SQLSTATE 22023 (invalid parameter value), which the driver counts as
    /// invalid input. (A transfer to the same account would read the row twice and write
    /// `balance + amount` last, creating money.)
    package enum InvalidRequest: Error, Sendable, Hashable, CustomStringConvertible {
        /// An account in two legs.
        case sameAccount(AccountID)
        /// A non-positive amount moved, or a leg of zero.
        case nonPositiveAmount(Int64)
        /// Legs that do not sum to zero, or whose credits do not sum to the amount.
        case unbalanced(sum: Int64, credits: Int64, amount: Int64)
        /// No debit, or no credit.
        case oneSided(debits: Int, credits: Int)
        /// A key in the ledger's range, which no account may use.
        case notAnAccount(AccountID)
        /// An account key with no row.
        case noSuchAccount(AccountID)

        /// The SQLSTATE a client sees.
        package static let sqlState = TransferResult.invalidInputSQLState

        package var description: String {
            switch self {
            case .sameAccount(let account): "a transfer with account \(account) in two legs (to itself)"
            case .nonPositiveAmount(let amount): "a transfer of a non-positive amount (\(amount))"
            case .unbalanced(let sum, let credits, let amount):
                "legs summing to \(sum), not 0 (credits \(credits), amount \(amount))"
            case .oneSided(let debits, let credits): "\(debits) debit(s) and \(credits) credit(s): needs one of each"
            case .notAnAccount(let key): "key \(key) is a ledger row, not an account"
            case .noSuchAccount(let account): "account \(account) does not exist"
            }
        }
    }

    /// Checks what can be checked without reading: distinct accounts, a positive amount, no
    /// zero leg, at least one debit and one credit, legs summing to zero with credits summing to
    /// the amount, and keys below the ledger's range.
    package static func validate(_ request: TransferRequest) throws(InvalidRequest) {
        let legs = request.legs
        for i in legs.indices {
            for j in legs.indices where j > i && legs[j].account == legs[i].account {
                throw .sameAccount(legs[i].account)
            }
        }
        guard request.amount > 0 else { throw .nonPositiveAmount(request.amount) }
        var debits = 0
        var credits = 0
        var sum: Int64 = 0
        var credited: Int64 = 0
        var overflow = false
        for leg in legs {
            guard leg.amount != 0 else { throw .nonPositiveAmount(0) }
            if leg.isDebit { debits += 1 } else { credits += 1 }
            var o1 = false
            var o2 = false
            (sum, o1) = sum.addingReportingOverflow(leg.amount)
            if !leg.isDebit { (credited, o2) = credited.addingReportingOverflow(leg.amount) }
            overflow = overflow || o1 || o2
        }
        guard debits > 0, credits > 0 else { throw .oneSided(debits: debits, credits: credits) }
        guard !overflow, sum == 0, credited == request.amount else {
            throw .unbalanced(sum: sum, credits: credited, amount: request.amount)
        }
        for leg in legs where leg.account >= ledgerBase { throw .notAnAccount(leg.account) }
    }

    static func ledgerKey(_ id: UInt64) -> AccountID { ledgerBase | (id & ~ledgerBase) }

    /// The ledger row's payload (the row's balance is the amount moved). A two-leg transfer
    /// (whose legs are always -amount and +amount) stores the debited then the credited account,
    /// 16 bytes as before legs existed; a transfer of other leg counts stores `ledgerBase | count`
    /// (no account has that bit) then each leg's account and signed amount. Little-endian 64-bit
    /// words, padded with zeros to `padding` bytes.
    package static func ledgerPayload(legs: TransferLegs, padding: Int) -> [UInt8] {
        let encoded = legs.count == 2 ? 16 : 8 + 16 * legs.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(encoded, padding))
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        if legs.count == 2 {
            let (debit, credit) = legs[0].isDebit ? (legs[0], legs[1]) : (legs[1], legs[0])
            append(debit.account)
            append(credit.account)
        } else {
            append(ledgerBase | UInt64(legs.count))
            for leg in legs {
                append(leg.account)
                append(leg.amount)
            }
        }
        bytes.append(contentsOf: repeatElement(0, count: max(0, padding - encoded)))
        return bytes
    }

    /// Calls `body` with each leg a ledger row records (`amount` is the row's balance); false if
    /// the payload is not a ledger's.
    @discardableResult
    package static func forEachLeg(
        inLedger payload: [UInt8], amount: Int64, _ body: (_ account: AccountID, _ amount: Int64) -> Void
    ) -> Bool {
        guard payload.count >= 16 else { return false }
        return payload.withUnsafeBytes { raw in
            func word(_ index: Int) -> UInt64 {
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))
            }
            let first = word(0)
            guard first & ledgerBase != 0 else {
                body(first, 0 &- amount)
                body(word(1), amount)
                return true
            }
            let count = first & ~ledgerBase
            guard count <= UInt64((raw.count - 8) / 16) else { return false }
            for index in 0..<Int(count) {
                body(word(1 + 2 * index), Int64(bitPattern: word(2 + 2 * index)))
            }
            return true
        }
    }

    /// The legs a ledger row records, nil if it is not a ledger row's payload.
    static func decodeLedger(_ payload: [UInt8], amount: Int64) -> [TransferLeg]? {
        var legs: [TransferLeg] = []
        let decoded = forEachLeg(inLedger: payload, amount: amount) { account, amount in
            legs.append(TransferLeg(account: account, amount: amount))
        }
        return decoded ? legs : nil
    }

    static func execute(
        _ request: TransferRequest, in context: some TransactionContext, overdraft: Bool, payload: [UInt8],
        ledgerPayload: [UInt8]
    ) async throws {
        try validate(request)
        try await apply(
            request.legs.inKeyOrder(), ledger: (request.id, request.amount, ledgerPayload), in: context,
            overdraft: overdraft, payload: payload)
    }

    /// A participant's part of a transfer across regions: its legs (accounts homed in its region)
    /// and, for the region holding the debit, the transfer's ledger row. The request as a whole was
    /// validated by the coordinator.
    /// `wait` is how long a row lock is waited for (nil: the lock timeout; `.noWait` for a batch
    /// member, whose batch must not wait on a lock while its own prepared members hold others).
    static func executePart(
        _ legs: TransferLegs, ledger: (id: UInt64, amount: Int64, payload: [UInt8])?,
        in context: some TransactionContext, overdraft: Bool, payload: [UInt8], wait: LockWait? = nil
    ) async throws {
        try await apply(
            legs.inKeyOrder(), ledger: ledger, in: context, overdraft: overdraft, payload: payload, wait: wait)
    }

    /// Locks every leg's account in key order, checks funds, writes the balances, then the ledger row.
    private static func apply(
        _ legs: TransferLegs, ledger: (id: UInt64, amount: Int64, payload: [UInt8])?,
        in context: some TransactionContext, overdraft: Bool, payload: [UInt8], wait: LockWait? = nil
    ) async throws {
        if legs.count == 2 {
            // The single-region case, without an array of rows.
            let first = try await lock(legs[0], in: context, wait: wait)
            let second = try await lock(legs[1], in: context, wait: wait)
            try check(legs[0], first, overdraft: overdraft)
            try check(legs[1], second, overdraft: overdraft)
            try await context.write(legs[0].account, Row(balance: first &+ legs[0].amount, payload: payload), wait: nil)
            try await context.write(
                legs[1].account, Row(balance: second &+ legs[1].amount, payload: payload), wait: nil)
        } else {
            var balances: [Int64] = []
            balances.reserveCapacity(legs.count)
            for leg in legs { balances.append(try await lock(leg, in: context, wait: wait)) }
            for (leg, balance) in zip(legs, balances) { try check(leg, balance, overdraft: overdraft) }
            for (leg, balance) in zip(legs, balances) {
                try await context.write(leg.account, Row(balance: balance &+ leg.amount, payload: payload), wait: nil)
            }
        }
        if let ledger {
            try await context.write(
                ledgerKey(ledger.id), Row(balance: ledger.amount, payload: ledger.payload), wait: nil)
        }
    }

    /// Locks a leg's account row (SELECT ... FOR UPDATE) and returns its balance.
    @inline(__always)
    private static func lock(_ leg: TransferLeg, in context: some TransactionContext, wait: LockWait? = nil)
        async throws -> Int64
    {
        guard let row = try await context.readForUpdate(leg.account, wait: wait) else {
            throw InvalidRequest.noSuchAccount(leg.account)
        }
        return row.balance
    }

    /// Refuses a debit the balance does not cover (unless overdraft is allowed).
    @inline(__always)
    private static func check(_ leg: TransferLeg, _ balance: Int64, overdraft: Bool) throws(Rejection) {
        if !overdraft, leg.isDebit, balance &+ leg.amount < 0 {
            throw .insufficientFunds(account: leg.account, balance: balance, amount: 0 &- leg.amount)
        }
    }
}
