import Engine
import Storage
import WorkloadSpec

/// Picks the accounts of a transfer region by region (DESIGN.md, "Transfer classes"): two inside
/// the client's home region for a single-region transfer, one per region it touches for a
/// cross-region or global one. Region `r` homes the contiguous range
/// ``AccountPlacement/accounts(in:)``, and the spec's key distribution (uniform, zipf, hot set)
/// is applied within that range, so each region has its own hot accounts.
///
/// Work: one ``KeyChooser`` per region, whose set-up is linear in its range (zipf's zeta), so
/// linear in the accounts over all regions.
struct RegionKeyChooser: Sendable {
    /// Where accounts live.
    let placement: AccountPlacement
    /// One chooser per region, over `0..<count of its range`.
    private let choosers: [KeyChooser]
    /// The first account of each region's range.
    private let bases: [UInt64]

    /// A chooser for `accounts` accounts over `regions` regions.
    ///
    /// - Throws: ``DriverError`` naming `accounts` when a region homes fewer than 2 accounts (a
    ///   single-region transfer needs two distinct accounts there).
    init(distribution: WorkloadSpec.KeyDistribution, accounts: Int, regions: [String]) throws(DriverError) {
        precondition(!regions.isEmpty, "a spec declares at least one region")
        guard accounts >= 1 else {
            throw DriverError(key: "accounts", "a run needs accounts; declare at least \(2 * regions.count)")
        }
        let placement = AccountPlacement(accounts: accounts, regions: regions.count)
        var choosers: [KeyChooser] = []
        var bases: [UInt64] = []
        for (index, name) in regions.enumerated() {
            let range = placement.accounts(in: index)
            guard range.count >= 2 else {
                throw DriverError(
                    key: "accounts",
                    "region '\(name)' homes \(range.count) of the \(accounts) accounts (contiguous ranges over "
                        + "\(regions.count) regions), but a single-region transfer needs two accounts in the "
                        + "client's region; declare at least \(2 * regions.count) accounts")
            }
            choosers.append(KeyChooser(distribution: distribution, count: range.count))
            bases.append(UInt64(range.lowerBound))
        }
        self.placement = placement
        self.choosers = choosers
        self.bases = bases
    }

    /// The number of regions.
    var regions: Int { choosers.count }

    /// One account homed in `region`, by the spec's distribution within the region's range: a leg
    /// of a cross-region or global transfer.
    func account(region: Int, _ random: inout SplitMix64) -> AccountID {
        bases[region] + choosers[region].next(&random)
    }

    /// Two distinct accounts, both homed in `region`.
    func pair(region: Int, _ random: inout SplitMix64) -> (AccountID, AccountID) {
        let (first, second) = choosers[region].pair(&random)
        return (bases[region] + first, bases[region] + second)
    }
}
