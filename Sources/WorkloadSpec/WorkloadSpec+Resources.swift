extension WorkloadSpec {
    /// The peak resident bytes one account costs on one replica besides its payload: the tuple
    /// version (xmin, xmax, balance), its heap slot and index entry, and its share of the load's
    /// WAL buffers and commit log.
    ///
    /// Measured (peak RSS of `layerbench run`, debug build, one replica, durability none):
    /// 10,000 -> 410,000 accounts of 32-byte payloads: +403 bytes per account; 10,000 ->
    /// 210,000 accounts of 1024-byte payloads: +3,389 bytes per account. A line through both:
    /// about 307 bytes plus 3 times the payload (the payload lives in the heap version, the WAL
    /// record and the load's buffers); rounded up to 320 and ``payloadCopies``.
    public static let residentBytesPerAccount = 320
    /// How many copies of an account's payload are resident at the peak of a load (see above).
    public static let payloadCopies = 3

    /// The peak memory a run of this spec needs, estimated from the accounts, their payload and the
    /// replicas that each hold a copy (every account lives in one region, held by that region's
    /// replicas). Transfers add ledger rows on top; vacuum bounds the dead versions.
    public var estimatedMemoryBytes: UInt64 {
        let replicas = regions.map(\.replicas)
        let meanReplicas = replicas.isEmpty ? 1 : Double(replicas.reduce(0, +)) / Double(replicas.count)
        let perAccount = Double(Self.residentBytesPerAccount + Self.payloadCopies * payloadBytes)
        let bytes = Double(accounts) * perAccount * max(1, meanReplicas)
        return bytes >= Double(UInt64.max) ? .max : UInt64(bytes)
    }
}
