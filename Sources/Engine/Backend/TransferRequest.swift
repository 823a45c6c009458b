import Storage

/// One side of a transfer: an account and the signed amount applied to its balance (negative:
/// a debit, positive: a credit).
public struct TransferLeg: Sendable, Hashable {
    /// The account.
    public var account: AccountID
    /// The change to its balance: negative debits, positive credits.
    public var amount: Int64

    /// Creates a leg.
    public init(account: AccountID, amount: Int64) {
        self.account = account
        self.amount = amount
    }

    /// Whether the leg takes money out of its account.
    public var isDebit: Bool { amount < 0 }
}

/// One transfer the driver asks for: debits and credits (its legs) that sum to zero, applied
/// atomically. A single-region transfer has two legs; a cross-region or global one debits one
/// account and credits one account per other region, the amount split between them.
///
/// A valid request has at least one debit and one credit, no zero leg, no account twice, legs
/// summing to zero, and credits summing to ``amount`` (> 0), on account keys (below the ledger's
/// range) that exist. Anything else is refused with 22023 before any write.
public struct TransferRequest: Sendable, Hashable {
    /// Unique across the run (and its shards): the ledger row's key.
    public var id: UInt64
    /// The region index of the client issuing it (the region it enters through).
    public var clientRegion: Int
    /// The amount moved: the sum of the credits (and of the debits' magnitudes).
    public var amount: Int64
    /// The debits and credits, in the caller's order (backends lock in key order).
    public var legs: TransferLegs
    /// The timestamp of the last transfer acknowledged to this client (0: none): the transfer's
    /// own timestamp is above it, whatever the clocks of the regions involved (causality, as a
    /// CockroachDB client carries its last timestamp).
    public var causalTimestamp: TransactionID = 0

    /// Creates a request of any number of legs; `amount` is the sum of its credits.
    public init(id: UInt64, clientRegion: Int = 0, legs: TransferLegs) {
        self.id = id
        self.clientRegion = clientRegion
        self.legs = legs
        self.amount = legs.reduce(0) { $1.amount > 0 ? $0 &+ $1.amount : $0 }
    }

    /// Creates the two-leg transfer of `amount` from `from` to `to` (a single-region transfer).
    /// The amount is kept as given, so a non-positive one is refused, not reversed.
    public init(id: UInt64, from: AccountID, to: AccountID, amount: Int64, clientRegion: Int = 0) {
        self.id = id
        self.clientRegion = clientRegion
        self.amount = amount
        self.legs = TransferLegs(
            TransferLeg(account: from, amount: 0 &- amount), TransferLeg(account: to, amount: amount))
    }
}

/// A transfer's legs: two inline (the common case, with no allocation) or any number in an
/// array.
public struct TransferLegs: RandomAccessCollection, Sendable, Hashable, ExpressibleByArrayLiteral {
    private enum Storage: Sendable, Hashable {
        case pair(TransferLeg, TransferLeg)
        case list([TransferLeg])
    }

    private let storage: Storage

    /// Legs in the given order.
    public init(_ legs: [TransferLeg]) {
        storage = legs.count == 2 ? .pair(legs[0], legs[1]) : .list(legs)
    }

    /// Two legs, stored inline.
    public init(_ first: TransferLeg, _ second: TransferLeg) {
        storage = .pair(first, second)
    }

    public init(arrayLiteral elements: TransferLeg...) {
        self.init(elements)
    }

    public var startIndex: Int { 0 }

    public var endIndex: Int {
        switch storage {
        case .pair: 2
        case .list(let legs): legs.count
        }
    }

    public subscript(position: Int) -> TransferLeg {
        switch storage {
        case .pair(let first, let second):
            precondition(position == 0 || position == 1, "leg index \(position) out of range")
            return position == 0 ? first : second
        case .list(let legs): return legs[position]
        }
    }

    /// The legs sorted by account (the order rows are locked in, so transfers never deadlock
    /// each other); two legs are swapped in place, without an allocation.
    public func inKeyOrder() -> TransferLegs {
        switch storage {
        case .pair(let first, let second):
            return first.account <= second.account ? self : TransferLegs(second, first)
        case .list(let legs):
            return TransferLegs(legs.sorted { $0.account < $1.account })
        }
    }
}
