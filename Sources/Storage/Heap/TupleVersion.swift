/// One version of a row in the heap, as in PostgreSQL's heap tuple header.
///
/// `xmin` created the version; `xmax` (0 when none) is the transaction that replaced it. The
/// versions of a row form a chain ordered oldest to newest; a version's position in its chain is
/// its `ctid`, and the next newer version is the one after it.
struct TupleVersion: Sendable {
    var xmin: TransactionID
    var xmax: TransactionID
    var row: Row
}
