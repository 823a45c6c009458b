/// One cell of a spec's matrix: a resolved value for every matrix axis.
///
/// Reports show variants side by side; ``name`` labels them: `baseline` when no
/// optimisation is on, else the enabled ones joined by `+` (`locality+batch_commit`), with
/// `-c64` appended when `clients` is an axis with more than one value.
public struct Variant: Sendable, Hashable {
    /// A short readable label, unique within the spec (`baseline`, `batch_commit-c64`).
    public var name: String
    /// Whether the locality fast path is on.
    public var locality: Bool
    /// Whether batch commit is on.
    public var batchCommit: Bool
    /// Whether replication is asynchronous.
    public var asyncReplication: Bool
    /// The closed-loop client count; nil for an open-loop run.
    public var clients: Int?

    /// A variant; `name` should be unique within its spec.
    public init(
        name: String,
        locality: Bool,
        batchCommit: Bool,
        asyncReplication: Bool,
        clients: Int?
    ) {
        self.name = name
        self.locality = locality
        self.batchCommit = batchCommit
        self.asyncReplication = asyncReplication
        self.clients = clients
    }
}

extension WorkloadSpec {
    /// The cartesian product of the matrix axes (`optimisations.locality`, `batch_commit`,
    /// `async_replication`, then `clients`), in a stable order: axes in that order, the last
    /// varying fastest, each axis's values in the order of the spec.
    ///
    /// A spec without list-valued axes has exactly one variant.
    public var variants: [Variant] {
        let clientAxis: [Int?] =
            switch load {
            case .closedLoop(let clients): clients.map { $0 }
            case .openLoop: [nil]
            }
        let nameClients = clientAxis.count > 1
        var variants: [Variant] = []
        for locality in optimisations.locality {
            for batchCommit in optimisations.batchCommit {
                for asyncReplication in optimisations.asyncReplication {
                    for clients in clientAxis {
                        var enabled: [String] = []
                        if locality { enabled.append("locality") }
                        if batchCommit { enabled.append("batch_commit") }
                        if asyncReplication { enabled.append("async_replication") }
                        var name = enabled.isEmpty ? "baseline" : enabled.joined(separator: "+")
                        if nameClients, let clients { name += "-c\(clients)" }
                        variants.append(
                            Variant(
                                name: name, locality: locality, batchCommit: batchCommit,
                                asyncReplication: asyncReplication, clients: clients
                            )
                        )
                    }
                }
            }
        }
        return variants
    }
}
