import Distributed
import Runtime
import Storage
import Synchronization

/// What a participant's leader is asked to do in a transaction across regions: execute its legs
/// (accounts homed in its region, and the ledger row when it holds the debit) under the
/// coordinator's timestamp, then prepare through its region's log.
struct ParticipantWork: Sendable {
    var global: GlobalTransaction
    /// The coordinator's timestamp: the participant's transaction id unless it already issued a
    /// higher one (then it pushes).
    var timestamp: TransactionID
    var legs: TransferLegs
    var ledger: (id: UInt64, amount: Int64)?
    /// The whole transfer's legs (the ledger row records them all).
    var allLegs: TransferLegs
}

/// A participant's vote, with where its time went.
struct ParticipantVote: Sendable {
    enum Outcome: Sendable, Equatable {
        /// Prepared as local transaction `xid` (above the coordinator's timestamp when pushed).
        case prepared(xid: TransactionID)
        /// The business rule refused a debit (insufficient funds).
        case rejected
        /// Failed with this SQLSTATE (nothing is prepared).
        case failed(sqlState: String)
    }

    var outcome: Outcome
    /// The participant's spans (pool wait, lock waits, storage, its log write and replication).
    var trace: Trace
    /// The time the participant spent on the request (the rest of the round trip is network).
    var processingNanos: UInt64
    /// The participant could not begin under the timestamp or any pushed one (it kept losing the
    /// race for a higher id): a rejection the coordinator turns into a retry.
    var timestampRejected = false
}

/// A request between regions (the coordinator's 2PC messages, the gateway's forward, the in-doubt
/// check).
enum RegionRequest: Sendable {
    /// A client's gateway forwards a transfer to the global coordinator (locality off).
    case transfer(TransferRequest)
    /// Phase one at a participant.
    case execute(ParticipantWork)
    /// Phase two at a participant: commit prepared `xid` at `commitTimestamp`, or abort it.
    case finish(xid: TransactionID, commit: Bool, commitTimestamp: TransactionID)
    /// A participant holding `global` prepared too long asks its coordinator's region for the
    /// decision; a missing record is aborted there (Percolator's primary-lock check).
    case resolve(GlobalTransaction)
    /// A region asks the oracle in the home region for `count` timestamps (`timestamps: tso`).
    case timestamps(count: Int)
    /// Phase one of a batch (batch commit): every member's part, one prepare entry for all.
    case executeBatch([ParticipantWork])
    /// Phase two of a batch: one entry.
    case finishBatch([(xid: TransactionID, commit: Bool, commitTimestamp: TransactionID)])

    /// The bytes on the wire (headers plus legs), for the network's byte counts.
    var bytes: Int {
        switch self {
        case .transfer(let request): 48 + 16 * request.legs.count
        case .execute(let work): 64 + 16 * work.allLegs.count
        case .finish: 40
        case .resolve, .timestamps: 32
        case .executeBatch(let works): 32 + works.reduce(0) { $0 + 48 + 16 * $1.allLegs.count }
        case .finishBatch(let list): 16 + 24 * list.count
        }
    }
}

/// The answer to a `RegionRequest`.
enum RegionReply: Sendable {
    case transferred(TransferResult)
    case voted(ParticipantVote)
    case finished
    case record(TransactionRecord)
    case timestamps([TransactionID])
    case votedBatch([ParticipantVote])
    /// The region could not serve (no leader within the wait, or the network lost the message).
    case unavailable(String)

    var bytes: Int {
        switch self {
        case .voted, .record: 48
        case .timestamps(let ids): 16 + 8 * ids.count
        case .votedBatch(let votes): 16 + 32 * votes.count
        default: 32
        }
    }
}

/// One message on the region network.
enum RegionEnvelope: Sendable {
    case request(id: UInt64, from: Int, RegionRequest)
    case reply(id: UInt64, RegionReply)
}

/// Calls between regions over the simulated WAN (the same RTT matrix as the Raft groups'): each
/// region has one endpoint (its coordinator and participant service, at its leader); a call in
/// the same region is a direct call (the coordinator runs at the region's leader). Every message
/// between regions is delayed by the network and counted.
final class RegionNetwork: Sendable {
    typealias Handler = @Sendable (_ region: Int, _ from: Int, _ request: RegionRequest) async -> RegionReply

    let transport: NetworkTransport<RegionEnvelope>
    private struct Calls {
        var next: UInt64 = 0
        var waiting: [UInt64: CheckedContinuation<RegionReply, Never>] = [:]
        var stopped = false
    }

    private let calls = Mutex(Calls())
    /// The handler in a box: a closure stored straight in a `Mutex` is re-abstracted on every
    /// `withLock` (its `inout` value is converted and written back), growing a chain of thunks that
    /// made every later call slower.
    private final class HandlerBox: Sendable {
        let body: Handler
        init(_ body: @escaping Handler) { self.body = body }
    }

    private let handler = Mutex<HandlerBox?>(nil)
    /// Messages between regions sent, by request kind (tests count WAN round trips with them).
    private let sent = Mutex<[String: Int]>([:])
    /// Messages (requests and replies) sent between regions, by sending region.
    private let sentByRegion = Mutex<[Int: Int]>([:])

    /// The node number of a region's endpoint (above any replica's).
    static let endpoint = 1_000

    init(transport: NetworkTransport<RegionEnvelope>) {
        self.transport = transport
    }

    func setHandler(_ body: @escaping Handler) {
        let box = HandlerBox(body)
        handler.withLock { $0 = box }
    }

    /// Requests sent between regions so far, by kind (`transfer`, `execute`, `finish`, `resolve`).
    var requestsSent: [String: Int] { sent.withLock { $0 } }

    /// Messages (requests and replies) sent between regions so far.
    var interRegionMessages: UInt64 { transport.counters[.interRegion]?.messagesSent ?? 0 }

    /// Messages (requests and replies) region `region` sent to other regions so far.
    func sentFrom(_ region: Int) -> Int { sentByRegion.withLock { $0[region] ?? 0 } }

    /// Calls `request` on region `to` from region `from`: directly when they are the same region,
    /// else over the network (a request and a reply).
    func call(from: Int, to: Int, _ request: RegionRequest) async -> RegionReply {
        guard from != to else {
            guard let handler = handler.withLock({ $0 }) else { return .unavailable("no handler") }
            return await handler.body(to, from, request)
        }
        sent.withLock { $0[Self.kind(request), default: 0] += 1 }
        sentByRegion.withLock { $0[from, default: 0] += 1 }
        return await withCheckedContinuation { continuation in
            let id = calls.withLock { c -> UInt64? in
                guard !c.stopped else { return nil }
                c.next += 1
                c.waiting[c.next] = continuation
                return c.next
            }
            guard let id else {
                continuation.resume(returning: .unavailable("the region network is stopped"))
                return
            }
            let outcome = transport.send(
                .request(id: id, from: from, request), bytes: request.bytes, from: Self.address(from),
                to: Self.address(to))
            if case .scheduled = outcome { return }
            let waiting = calls.withLock { $0.waiting.removeValue(forKey: id) }
            waiting?.resume(returning: .unavailable("the network lost the request"))
        }
    }

    static func kind(_ request: RegionRequest) -> String {
        switch request {
        case .transfer: "transfer"
        case .execute: "execute"
        case .finish: "finish"
        case .resolve: "resolve"
        case .timestamps: "timestamps"
        case .executeBatch: "execute_batch"
        case .finishBatch: "finish_batch"
        }
    }

    static func address(_ region: Int) -> NodeAddress { NodeAddress(region: region, node: endpoint) }

    /// Delivers messages until cancelled: a request runs its handler in a task of its own and
    /// sends the reply back; a reply resumes its caller.
    func run() async {
        await transport.run { [self] deliveries in
            for delivery in deliveries {
                switch delivery.message {
                case .request(let id, let from, let request):
                    let to = delivery.to.region
                    Task {
                        let reply: RegionReply
                        if let handler = self.handler.withLock({ $0 }) {
                            reply = await handler.body(to, from, request)
                        } else {
                            reply = .unavailable("no handler")
                        }
                        self.sentByRegion.withLock { $0[to, default: 0] += 1 }
                        let outcome = self.transport.send(
                            .reply(id: id, reply), bytes: reply.bytes, from: delivery.to, to: delivery.from)
                        if case .scheduled = outcome { return }
                        let waiting = self.calls.withLock { $0.waiting.removeValue(forKey: id) }
                        waiting?.resume(returning: .unavailable("the network lost the reply"))
                    }
                case .reply(let id, let reply):
                    let waiting = calls.withLock { $0.waiting.removeValue(forKey: id) }
                    waiting?.resume(returning: reply)
                }
            }
        }
    }

    /// Fails every call in flight and every later one (the cluster is shutting down).
    func stop() {
        let waiting = calls.withLock { c -> [CheckedContinuation<RegionReply, Never>] in
            c.stopped = true
            defer { c.waiting = [:] }
            return Array(c.waiting.values)
        }
        for continuation in waiting { continuation.resume(returning: .unavailable("the region network stopped")) }
    }
}

/// Transaction ids and timestamps that no two issuers share (DESIGN.md, "Timestamps"): an HLC
/// reading rounded up so its low bits name the issuer, a region's storage (its leaders' local
/// transactions) or a region's coordinator. A commit timestamp pushed onto a participant is
/// another issuer's id, so it can never collide with one the participant issued itself.
enum TimestampTags {
    static let bits: UInt64 = 5
    static let mask: UInt64 = (1 << bits) - 1
    /// Regions the tags can tell apart (two issuers each; the last tag is the oracle's).
    static let maxRegions = 15
    /// The timestamp oracle's tag.
    static let oracle: UInt64 = mask

    static func local(_ region: Int) -> UInt64 { UInt64(2 * region) }
    static func coordinator(_ region: Int) -> UInt64 { UInt64(2 * region + 1) }

    /// The smallest id at or above `value` carrying `tag`.
    static func atLeast(_ value: UInt64, tag: UInt64) -> UInt64 {
        let candidate = (value & ~mask) | tag
        return candidate >= value ? candidate : candidate &+ (mask + 1)
    }

    /// The issuer tag of an id.
    static func tag(of id: UInt64) -> UInt64 { id & mask }
}
