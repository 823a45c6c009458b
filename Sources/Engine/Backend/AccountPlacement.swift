import Storage

/// Where accounts live (DESIGN.md, "L2"): contiguous ranges, account `i` of `N` in region
/// `floor(i * R / N)`, so region `r` holds `ceil(r * N / R) ..< ceil((r + 1) * N / R)`.
public struct AccountPlacement: Sendable, Hashable {
    /// The number of accounts, at least 1.
    public let accounts: Int
    /// The number of regions, at least 1.
    public let regions: Int

    /// The placement of `accounts` accounts over `regions` regions.
    public init(accounts: Int, regions: Int) {
        precondition(accounts >= 1 && regions >= 1, "a placement needs accounts and regions")
        self.accounts = accounts
        self.regions = regions
    }

    /// The region (index) that homes `account`; accounts past the last land in the last region.
    public func region(of account: AccountID) -> Int {
        guard account < AccountID(accounts) else { return regions - 1 }
        return Int((UInt128(account) * UInt128(regions)) / UInt128(accounts))
    }

    /// The accounts homed in `region`, in key order (empty when there are fewer accounts than
    /// regions and this one gets none).
    public func accounts(in region: Int) -> Range<Int> {
        precondition(region >= 0 && region < regions, "region \(region) out of 0..<\(regions)")
        return firstAccount(of: region)..<firstAccount(of: region + 1)
    }

    /// The smallest `i` with `floor(i * R / N) >= region`: `ceil(region * N / R)`.
    private func firstAccount(of region: Int) -> Int {
        let product = region * accounts
        return (product + regions - 1) / regions
    }
}
