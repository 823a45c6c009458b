/// The verdict of one correctness check (conservation, durability, convergence, ...).
public struct CheckResult: Codable, Sendable, Equatable {
    /// The check's name as the spec spells it, for example `conservation`.
    public var name: String
    /// Whether the invariant held.
    public var passed: Bool
    /// What was measured, for example `sum 10000000 before and after`.
    public var detail: String

    /// A check result from its parts.
    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}
