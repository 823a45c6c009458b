/// One version of a row in the heap, as in PostgreSQL's heap tuple header.
///
/// `xmin` created the version; `xmax` (0 when none) is the transaction that replaced it. The
/// versions of a row form a chain ordered oldest to newest; a version's position in its chain is
/// its `ctid`, and the next newer version is the one after it.
///
/// `frozen` is PostgreSQL's `HEAP_XMIN_FROZEN` hint (9.4+): `xmin` committed below every
/// snapshot's horizon, so the version is visible to all without consulting the commit log, and
/// the log may forget `xmin`. The `xmin` itself is kept: the cross-layer identity (L2 timestamp =
/// L1 xid = L0 xmin) stays checkable on every row.
struct TupleVersion: Sendable {
    var xmin: TransactionID
    var xmax: TransactionID
    var row: Row
    var frozen = false
}
