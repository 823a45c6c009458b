extension WorkloadSpec {
    /// The correctness checks of DESIGN.md, each on by default.
    /// The crash the audit simulates before it recovers the engine and checks the final state.
    public enum CrashModel: String, Sendable, Equatable, CaseIterable {
        /// The process dies; the operating system keeps its page cache, so written but unsynced
        /// data survives. What `durability: none` promises to survive.
        case process
        /// The machine loses power: whatever was not fsynced is gone. What `durability: fsync`
        /// promises to survive.
        case powerFailure = "power_failure"
    }

    public struct Checks: Sendable, Equatable {
        /// The sum of all balances never changes.
        public var conservation: Bool
        /// No balance goes negative (when overdraft is off).
        public var noNegative: Bool
        /// Every acknowledged transfer is in the final state.
        public var durability: Bool
        /// The replicas of a region end with the same state hash.
        public var replicaConvergence: Bool
        /// L2 timestamp = L1 transaction id = L0 `xmin` for every committed version.
        public var crossLayerIdentity: Bool
        /// The crash the audit models before recovery; `nil` for the durability setting's own
        /// (see ``WorkloadSpec/effectiveCrash``).
        public var crash: CrashModel?

        /// The checks, all on by default.
        public init(
            conservation: Bool = true,
            noNegative: Bool = true,
            durability: Bool = true,
            replicaConvergence: Bool = true,
            crossLayerIdentity: Bool = true
        ) {
            self.conservation = conservation
            self.noNegative = noNegative
            self.durability = durability
            self.replicaConvergence = replicaConvergence
            self.crossLayerIdentity = crossLayerIdentity
        }
    }

    /// The regression threshold of one metric for `gate`; at least one bound is set.
    ///
    /// Metric names are free strings here; `Reporting` interprets them.
    public struct GateThreshold: Sendable, Equatable {
        /// The metric's name, as `Reporting` spells it.
        public var metric: String
        /// The allowed worsening in percent of the baseline (10 means 10 %).
        public var relativePercent: Double?
        /// The allowed worsening in the metric's own unit.
        public var absolute: Double?

        /// A threshold; give at least one of `relativePercent` and `absolute`.
        public init(metric: String, relativePercent: Double? = nil, absolute: Double? = nil) {
            self.metric = metric
            self.relativePercent = relativePercent
            self.absolute = absolute
        }
    }

    /// The formats a run's report is written in.
    public enum ReportFormat: String, Sendable, Equatable, CaseIterable {
        /// `summary.md` with SVG charts.
        case md
        /// `results.csv`.
        case csv
        /// `run.json`.
        case json
    }

    /// Where and how reports are written.
    public struct Report: Sendable, Equatable {
        /// The directory that holds `<spec>/<run-id>/`, relative to the working directory.
        public var directory: String
        /// The formats to write, non-empty and without repeats.
        public var formats: [ReportFormat]

        /// Report settings; `reports`, every format by default.
        public init(directory: String = "reports", formats: [ReportFormat] = [.md, .csv, .json]) {
            self.directory = directory
            self.formats = formats
        }
    }
}

extension WorkloadSpec {
    /// The crash the audit models: the spec's `checks.crash`, else the one the durability setting
    /// is about (a process crash for `none`, a power failure for `fsync`).
    public var effectiveCrash: CrashModel {
        checks.crash ?? (durability == .none ? .process : .powerFailure)
    }
}
