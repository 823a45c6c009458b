/// A transaction id. The seed's cross-layer identity makes it the same number in every layer:
/// the L2 global timestamp, the L1 transaction id and the L0 `xmin` of every version it writes.
///
/// Zero is never a valid id; it marks "no transaction" in a version's `xmax`.
public typealias TransactionID = UInt64

/// The key of a row: a 64-bit account id.
public typealias AccountID = UInt64

/// A log sequence number: the byte position just past a record in the (never reset) WAL stream.
public typealias LSN = UInt64
