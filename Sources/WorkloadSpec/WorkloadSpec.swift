/// A workload spec: what to run, against which engine set-up, how long, with which
/// optimisations, faults, checks and gate thresholds (DESIGN.md, "Workloads").
///
/// Specs are YAML files (see `workloads/reference.yaml` for every key). Load one with
/// ``load(path:overrides:)`` or ``decode(yaml:file:overrides:)``; both validate strictly and
/// throw a ``SpecError`` naming the file, line, column and key of the first problem. Every
/// value below is already validated and has its default applied.
///
/// Durations are Swift `Duration`s of whole microseconds (see ``SpecDuration``). A key given
/// as a list (the `optimisations` flags, `clients`) is a matrix axis; ``variants`` expands
/// the matrix.
public struct WorkloadSpec: Sendable, Equatable {
    /// The spec's name, `[a-z0-9_-]+`; reports go to `reports/<name>/`.
    public var name: String
    /// Free text shown in reports.
    public var description: String
    /// The engine to drive.
    public var backend: Backend
    /// The seed of every random choice of the run (accounts, amounts, jitter, faults).
    public var seed: UInt64
    /// The number of accounts, at least 2.
    public var accounts: Int
    /// Every account's balance before the run, 0 or more.
    public var initialBalance: Int64
    /// Whether a transfer may leave a balance negative.
    public var overdraft: Bool
    /// Bytes of payload stored with each balance, `0...1024`.
    public var payloadBytes: Int
    /// The range transfer amounts are drawn from.
    public var amount: AmountRange
    /// How accounts are picked.
    public var distribution: KeyDistribution
    /// The regions and their replica counts, in declaration order (at least one).
    public var regions: [Region]
    /// Round-trip times between and within regions.
    public var network: Network
    /// The weights of the transfer classes.
    public var mix: TransferMix
    /// Closed loop (clients) or open loop (a target rate).
    public var load: Load
    /// The pause of a closed-loop client between two transfers.
    public var thinkTime: Duration
    /// Time run before measuring.
    public var warmup: Duration
    /// How long the measured phase runs: a duration or a transaction count.
    public var length: RunLength
    /// The isolation level of every transaction.
    public var isolation: Isolation
    /// Where global timestamps come from.
    public var timestamps: TimestampSource
    /// Whether commits wait for `fdatasync`.
    public var durability: Durability
    /// The optimisation flags; each is a matrix axis.
    public var optimisations: Optimisations
    /// Batch-commit limits (used when `batch_commit` is on).
    public var batch: Batch
    /// The session pool of the L1 runtime.
    public var pool: Pool
    /// Retry of transfers that fail with a retryable error.
    public var retry: Retry
    /// How long a transaction waits for a row lock before failing with 55P03.
    public var lockTimeout: Duration
    /// The fault schedule, in the order of the file.
    public var faults: [Fault]
    /// The correctness checks run after every variant.
    public var checks: Checks
    /// Whether the run keeps going (and succeeds) when transfers fail for good.
    public var tolerateErrors: Bool
    /// Whether `layerbench run` also runs `pgbench` with an equivalent script on the same server
    /// after each variant and reports it side by side (backend postgres only).
    public var comparePgbench: Bool = false
    /// Per-metric regression thresholds, in the order of the file.
    public var gate: [GateThreshold]
    /// Where and in which formats reports are written.
    public var report: Report

    /// A spec with the given name and account count and every other key at its default.
    public init(name: String, accounts: Int) {
        self.name = name
        self.description = ""
        self.backend = .embedded
        self.seed = 1
        self.accounts = accounts
        self.initialBalance = 1000
        self.overdraft = false
        self.payloadBytes = 32
        self.amount = AmountRange()
        self.distribution = .uniform
        self.regions = [Region(name: "local", replicas: 1)]
        self.network = Network()
        self.mix = TransferMix()
        self.load = .closedLoop(clients: [16])
        self.thinkTime = .zero
        self.warmup = .seconds(1)
        self.length = .duration(.seconds(10))
        self.isolation = .serializable
        self.timestamps = .hlc
        self.durability = .fsync
        self.optimisations = Optimisations()
        self.batch = Batch()
        self.pool = Pool()
        self.retry = Retry()
        self.lockTimeout = .seconds(1)
        self.faults = []
        self.checks = Checks()
        self.tolerateErrors = false
        self.gate = []
        self.report = Report()
    }
}
