import Storage

/// The ledger audit of the embedded engine, whatever its shape: fed every committed row (of the
/// standalone node, or of each region's leader), it checks conservation, negative balances, each
/// account's balance against the legs of the ledger, and every acknowledged transfer's ledger row
/// and transaction id.
struct LedgerAudit {
    private var balances: [Int64]
    private var actual: [AccountID: Int64] = [:]
    /// Ledger rows found: transfer id -> the `xmin` of its row.
    private(set) var ledger: [UInt64: TransactionID] = [:]

    init(_ expectation: AuditExpectation) {
        balances = [Int64](repeating: expectation.initialBalance, count: expectation.accounts)
    }

    /// Adds one committed row; returns the transfer id when it is a ledger row.
    @discardableResult
    mutating func add(_ entry: CommittedRow, to report: inout AuditReport) -> UInt64? {
        guard entry.key >= Transfer.ledgerBase else {
            actual[entry.key] = entry.row.balance
            report.accountsFound += 1
            report.actualTotal &+= entry.row.balance
            if entry.row.balance < 0 { report.negativeAccounts += 1 }
            return nil
        }
        let id = entry.key & ~Transfer.ledgerBase
        ledger[id] = entry.xmin
        Transfer.forEachLeg(inLedger: entry.row.payload, amount: entry.row.balance) { account, amount in
            if account < balances.count { balances[Int(account)] &+= amount }
        }
        return id
    }

    /// Balances against the ledger, and every acknowledged transfer against its ledger row.
    func finish(_ expectation: AuditExpectation, into report: inout AuditReport) {
        for (index, expected) in balances.enumerated() where actual[AccountID(index)] != expected {
            report.balanceMismatches += 1
        }
        for (id, xid) in expectation.acknowledged {
            guard let found = ledger[id] else {
                report.lost += 1
                continue
            }
            if found != xid { report.xidMismatches += 1 }
        }
    }
}
