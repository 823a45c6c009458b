import WorkloadSpec

/// Each class's measured median next to its critical-path minimum (DESIGN.md, "Commit paths and
/// their critical-path minimum"), per variant and client region, with the fsync time measured in
/// the same run that the minimum uses. Part of `run.json`; `summary.md` shows it as a table.
public struct LatencyFidelity: Codable, Sendable, Equatable {
    /// One variant x class x client region.
    public struct Row: Codable, Sendable, Equatable {
        /// The variant's name.
        public var variant: String
        /// The class.
        public var transferClass: TransferClass
        /// The home region of the clients that issued these transfers.
        public var clientRegion: String
        /// The critical-path minimum in milliseconds (for cross-region transfers the mean of the
        /// minimums over the destinations, which are uniform over the other regions).
        public var minimumMillis: Double
        /// The measured median end-to-end latency in milliseconds.
        public var measuredP50Millis: Double
        /// Transfers the median is over (committed and rejected).
        public var transfers: Int
        /// The measured mean end-to-end latency in milliseconds (nil in runs recorded before it
        /// was kept). Cross-region transfers from one client region go to several destinations
        /// whose latencies differ by their round trips: their p50 falls inside one destination's
        /// mode, so their mean is the figure to hold against the mean of the minimums.
        public var measuredMeanMillis: Double?

        /// A row from its parts.
        public init(
            variant: String, transferClass: TransferClass, clientRegion: String, minimumMillis: Double,
            measuredP50Millis: Double, transfers: Int, measuredMeanMillis: Double? = nil
        ) {
            self.measuredMeanMillis = measuredMeanMillis
            self.variant = variant
            self.transferClass = transferClass
            self.clientRegion = clientRegion
            self.minimumMillis = minimumMillis
            self.measuredP50Millis = measuredP50Millis
            self.transfers = transfers
        }

        /// Measured p50 over minimum; `nil` when the minimum is 0.
        public var ratio: Double? { minimumMillis > 0 ? measuredP50Millis / minimumMillis : nil }

        /// Measured mean over minimum; `nil` when the minimum is 0 or no mean was kept.
        public var meanRatio: Double? {
            guard minimumMillis > 0, let mean = measuredMeanMillis else { return nil }
            return mean / minimumMillis
        }

        enum CodingKeys: String, CodingKey {
            case transferClass = "class"
            case variant, clientRegion, minimumMillis, measuredP50Millis, transfers, ratio, measuredMeanMillis
            case meanRatio
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            variant = try container.decode(String.self, forKey: .variant)
            transferClass = try container.decode(TransferClass.self, forKey: .transferClass)
            clientRegion = try container.decode(String.self, forKey: .clientRegion)
            minimumMillis = try container.decode(Double.self, forKey: .minimumMillis)
            measuredP50Millis = try container.decode(Double.self, forKey: .measuredP50Millis)
            transfers = try container.decode(Int.self, forKey: .transfers)
            measuredMeanMillis = try container.decodeIfPresent(Double.self, forKey: .measuredMeanMillis)
        }

        /// Encodes the row with its ratio, for a reader of `run.json`.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(variant, forKey: .variant)
            try container.encode(transferClass, forKey: .transferClass)
            try container.encode(clientRegion, forKey: .clientRegion)
            try container.encode(minimumMillis, forKey: .minimumMillis)
            try container.encode(measuredP50Millis, forKey: .measuredP50Millis)
            try container.encode(transfers, forKey: .transfers)
            try container.encodeIfPresent(ratio, forKey: .ratio)
            try container.encodeIfPresent(measuredMeanMillis, forKey: .measuredMeanMillis)
            try container.encodeIfPresent(meanRatio, forKey: .meanRatio)
        }
    }

    /// The mean fsync time in milliseconds per variant and region (the mean over the region's
    /// replicas of each one's fsync time per fsync); a region without a measured fsync is absent.
    public var fsyncMillis: [String: [String: Double]]
    /// The rows, variants in run order, classes in class order, regions in spec order.
    public var rows: [Row]

    /// A fidelity table from its parts.
    public init(fsyncMillis: [String: [String: Double]] = [:], rows: [Row] = []) {
        self.fsyncMillis = fsyncMillis
        self.rows = rows
    }
}
