/// The spans L2 time is made of on a transfer's critical path (DESIGN.md, "Per-layer latency").
public enum L2Span: String, CaseIterable, Sendable, Codable {
    /// Acquiring the timestamp: the HLC read, or the round trip to the timestamp oracle.
    case timestamp
    /// The gateway's hop to the global coordinator and back (locality off).
    case gateway
    /// Network hops between the coordinator and its participants' leaders (2PC rounds).
    case network
    /// Waiting for followers beyond the leader's own log write (sync replication).
    case replication
    /// Making the coordinator's decision durable.
    case decision
    /// Commit-timestamp pushes.
    case push
    /// Finding a region's leader (redirects, elections).
    case redirect

    /// Dense index, for the fixed arrays of the recording hot path.
    var slot: Int {
        switch self {
        case .timestamp: 0
        case .gateway: 1
        case .network: 2
        case .replication: 3
        case .decision: 4
        case .push: 5
        case .redirect: 6
        }
    }
}

/// Microseconds per L2 span: one transfer's breakdown, or the sums over many.
public struct L2Spans: Sendable, Equatable {
    /// Microseconds by ``L2Span/slot``.
    private var micros: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)

    /// All zero.
    public init() {}

    /// The spans from their values in microseconds; a missing span is zero.
    public init(_ values: [L2Span: UInt64]) {
        for (span, value) in values { self[span] = value }
    }

    /// The microseconds of one span.
    public subscript(span: L2Span) -> UInt64 {
        get {
            switch span.slot {
            case 0: micros.0
            case 1: micros.1
            case 2: micros.2
            case 3: micros.3
            case 4: micros.4
            case 5: micros.5
            default: micros.6
            }
        }
        set {
            switch span.slot {
            case 0: micros.0 = newValue
            case 1: micros.1 = newValue
            case 2: micros.2 = newValue
            case 3: micros.3 = newValue
            case 4: micros.4 = newValue
            case 5: micros.5 = newValue
            default: micros.6 = newValue
            }
        }
    }

    /// The sum over the spans.
    public var total: UInt64 { L2Span.allCases.reduce(0) { $0 &+ self[$1] } }

    /// Adds another breakdown span by span.
    public mutating func add(_ other: L2Spans) {
        micros.0 &+= other.micros.0
        micros.1 &+= other.micros.1
        micros.2 &+= other.micros.2
        micros.3 &+= other.micros.3
        micros.4 &+= other.micros.4
        micros.5 &+= other.micros.5
        micros.6 &+= other.micros.6
    }

    public static func == (lhs: L2Spans, rhs: L2Spans) -> Bool {
        L2Span.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }
}

/// The L2 breakdown of a class's committed transfers: the per-span sums in microseconds and how
/// many transfers they cover, so results merge exactly (regions, clients, shards) and the means
/// follow.
public struct L2SpanTotals: Sendable, Equatable {
    /// Committed transfers whose breakdown was added.
    public var transfers: Int
    /// Per-span sums in microseconds.
    public var sums: L2Spans

    /// Nothing recorded, or totals from their parts.
    public init(transfers: Int = 0, sums: L2Spans = L2Spans()) {
        self.transfers = transfers
        self.sums = sums
    }

    /// Adds one transfer's breakdown.
    public mutating func add(transfer spans: L2Spans) {
        transfers += 1
        sums.add(spans)
    }

    /// Adds other totals.
    public mutating func add(_ other: L2SpanTotals) {
        transfers += other.transfers
        sums.add(other.sums)
    }

    /// The mean microseconds of one span per committed transfer (0 when there is none).
    public func meanMicros(_ span: L2Span) -> Double {
        transfers > 0 ? Double(sums[span]) / Double(transfers) : 0
    }

    /// The mean L2 microseconds the spans account for per committed transfer.
    public var meanTotalMicros: Double { transfers > 0 ? Double(sums.total) / Double(transfers) : 0 }
}

extension L2SpanTotals: Codable {
    enum CodingKeys: String, CodingKey {
        case transfers, sumMicros, meanMicros
    }

    /// Decodes `{transfers, sumMicros: {span: µs}}`; `meanMicros` is derived, not read.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        transfers = try container.decode(Int.self, forKey: .transfers)
        let sums = try container.decode([String: UInt64].self, forKey: .sumMicros)
        var spans = L2Spans()
        for (name, value) in sums {
            guard let span = L2Span(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .sumMicros, in: container,
                    debugDescription: "unknown L2 span '\(name)', expected one of "
                        + L2Span.allCases.map(\.rawValue).joined(separator: ", "))
            }
            spans[span] = value
        }
        self.sums = spans
    }

    /// Encodes the sums, and the means for a reader of `run.json`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(transfers, forKey: .transfers)
        var sumMicros: [String: UInt64] = [:]
        var meanMicros: [String: Double] = [:]
        for span in L2Span.allCases {
            sumMicros[span.rawValue] = sums[span]
            meanMicros[span.rawValue] = self.meanMicros(span)
        }
        try container.encode(sumMicros, forKey: .sumMicros)
        try container.encode(meanMicros, forKey: .meanMicros)
    }
}
