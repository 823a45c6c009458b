extension WorkloadSpec {
    /// The resident bytes one account costs on one replica besides its payload: the tuple version
    /// (xmin, xmax, balance, payload header), its heap slot and index entry, and its share of the
    /// load's WAL and commit log. Measured with `layerbench run` on 200,000 accounts (jemalloc
    /// resident bytes after loading, minus before, divided by the accounts); rounded up.
    public static let residentBytesPerAccount = 320

    /// The memory a run of this spec needs, estimated from the accounts, their payload and the
    /// replicas that each hold a copy (every account lives in one region, held by that region's
    /// replicas). Transfers add ledger rows on top; vacuum bounds the dead versions.
    public var estimatedMemoryBytes: UInt64 {
        let replicas = regions.map(\.replicas)
        let meanReplicas = replicas.isEmpty ? 1 : Double(replicas.reduce(0, +)) / Double(replicas.count)
        let perAccount = Double(Self.residentBytesPerAccount + payloadBytes)
        let bytes = Double(accounts) * perAccount * max(1, meanReplicas)
        return bytes >= Double(UInt64.max) ? .max : UInt64(bytes)
    }
}
