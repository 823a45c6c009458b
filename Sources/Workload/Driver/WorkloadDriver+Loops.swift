import Engine
import Foundation
import Results
import Runtime
import Storage
import Synchronization
import WorkloadSpec

/// The two ways of offering load.
extension WorkloadDriver {
    /// The home region (index) of closed-loop client `client`: client `i` lives in region
    /// `i mod R` (DESIGN.md, "Topology"), so every region gets clients when there are at least
    /// as many clients as regions.
    func homeRegion(ofClient client: Int) -> Int {
        client % spec.regions.count
    }

    /// Closed loop: each client sends its next transfer when the previous one completes (plus
    /// think time). This shard runs clients `i` with `i % shards == shard`; each client issues
    /// its transfers from its home region (``homeRegion(ofClient:)``).
    ///
    /// Clients of a region share at most ``closedLoopRecordersPerRegion`` recorders (one each
    /// when there are fewer): a recorder's histograms take a few hundred KB, so 10,000 clients
    /// with one each would need gigabytes and seconds to set up.
    func runClosedLoop(
        clients: Int, chooser: RegionKeyChooser, backend: any Backend, control: RunControl, sampler: Sampler,
        acknowledged spill: AcknowledgementSpill
    ) async -> [ClientRecorder] {
        let mine = (0..<clients).filter { $0 % options.shard.count == options.shard.index }
        let regions = spec.regions.count
        let perRegion = max(1, min(Self.closedLoopRecordersPerRegion, (clients + regions - 1) / regions))
        let recorders = (0..<(regions * perRegion)).map { ClientRecorder(region: $0 / perRegion) }
        sampler.register(recorders)
        await withTaskGroup(of: Void.self) { group in
            for client in mine {
                // Client `i` is the `i / R`-th client of its region.
                let recorder = recorders[homeRegion(ofClient: client) * perRegion + (client / regions) % perRegion]
                group.addTask {
                    await clientLoop(
                        client: client, recorder: recorder, chooser: chooser, backend: backend, control: control,
                        acknowledged: AcknowledgementSpill.Writer(spill))
                }
            }
        }
        return recorders
    }

    private func clientLoop(
        client: Int, recorder: ClientRecorder, chooser: RegionKeyChooser, backend: any Backend, control: RunControl,
        acknowledged writer: AcknowledgementSpill.Writer
    ) async {
        // At most one buffer of acknowledgements is held here; the rest are in the run's file.
        var acks = writer
        var random = SplitMix64(seed: spec.seed ^ (UInt64(client + 1) &* 0xD1B5_4A32_D192_ED03))
        let region = recorder.region
        var sequence: UInt64 = 0
        let think = spec.thinkTime.nanoseconds
        let clock = control.clock
        // The client carries the timestamp of its last acknowledged transfer: its next one gets a
        // larger timestamp, whatever region it enters through (causality).
        var lastTimestamp: TransactionID = 0
        while true {
            let began = clock.nowNanos()
            if control.shouldStop(now: began) { break }
            sequence += 1
            var (transferClass, request) = makeTransfer(
                id: (UInt64(client) << 40) | sequence, region: region, chooser: chooser, random: &random)
            request.causalTimestamp = lastTimestamp
            let result = await backend.transfer(request)
            let measured = clock.nanosSince(began)
            control.completed.add(1, ordering: .relaxed)
            if case .committed = result.outcome {
                acks.append(id: request.id, xid: result.xid)
                lastTimestamp = max(lastTimestamp, result.xid)
            }
            if began >= control.measureStart && !control.stopped.load(ordering: .relaxed) {
                record(result, transferClass, measured: measured, lag: 0, into: recorder)
                control.countMeasured(failed: result.isFailure)
            }
            if think > 0 {
                // Bounded by the deadline: a think time longer than the run ends with the run.
                guard await control.sleep(until: clock.nowNanos() &+ UInt64(think)) else { break }
            } else if sequence % 256 == 0 {
                // A backend that never suspends would otherwise starve the sampler.
                await Task.yield()
            }
        }
        acks.flush()
    }

    /// Open loop: transfers start on a Poisson schedule at `rate` per second whatever the
    /// latency, at most `maxInFlight` at once. Latency runs from the intended start, so a stall
    /// is charged to every transfer it delayed (no coordinated omission); the lag between
    /// intended and actual start is recorded, and counted in L1 (client-side queueing). Sends
    /// are assigned to regions round-robin (send `s` from region `s mod R`), each region with
    /// ``openLoopSlotsPerRegion`` recorders.
    func runOpenLoop(
        rate: Double, maxInFlight: Int, chooser: RegionKeyChooser, backend: any Backend, control: RunControl,
        sampler: Sampler, acknowledged spill: AcknowledgementSpill
    ) async -> [ClientRecorder] {
        let regions = spec.regions.count
        let perRegion = Self.openLoopSlotsPerRegion
        let slots = regions * perRegion
        // Slot `region * perRegion + k` records sends of `region`.
        let recorders = (0..<slots).map { ClientRecorder(region: $0 / perRegion) }
        let logs = (0..<slots).map { _ in AckLog(spill) }
        sampler.register(recorders)
        // Clamped so that no conversion to UInt64 can trap, whatever the rate (the spec refuses a
        // rate that offers less than one transfer in the run).
        let meanInterval = min(1e9 / max(rate, 1e-9), Self.maximumIntervalNanos)
        let clock = control.clock
        var random = SplitMix64(seed: spec.seed ^ (UInt64(options.shard.index + 1) &* 0xA24B_AED4_963E_E407))
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var intended = clock.nowNanos()
            var sequence: UInt64 = 0
            while true {
                let u = Double(random.next() >> 11) / Double(1 << 53)
                intended &+= UInt64(min(-log(1 - u) * meanInterval, Self.maximumIntervalNanos))
                if inFlight >= maxInFlight {
                    await group.next()
                    inFlight -= 1
                }
                let now = clock.nowNanos()
                if control.shouldStop(now: max(now, intended)) { break }
                if intended > now, !(await control.sleep(until: intended)) { break }
                sequence += 1
                let id = (UInt64(options.shard.index) << 56) | (1 << 55) | sequence
                let region = Int(sequence % UInt64(regions))
                let (transferClass, request) = makeTransfer(id: id, region: region, chooser: chooser, random: &random)
                let slot = region * perRegion + Int((sequence / UInt64(regions)) % UInt64(perRegion))
                let scheduled = intended
                inFlight += 1
                group.addTask {
                    let actual = clock.nowNanos()
                    let result = await backend.transfer(request)
                    let measured = clock.nanosSince(actual)
                    control.completed.add(1, ordering: .relaxed)
                    if case .committed = result.outcome { logs[slot].add(request.id, result.xid) }
                    if scheduled >= control.measureStart && !control.stopped.load(ordering: .relaxed) {
                        let lag = actual > scheduled ? actual - scheduled : 0
                        recorders[slot].recordScheduleLag(micros: lag / 1000)
                        record(result, transferClass, measured: measured, lag: lag, into: recorders[slot])
                        control.countMeasured(failed: result.isFailure)
                    }
                }
            }
            await group.waitForAll()
        }
        for log in logs { log.flush() }
        return recorders
    }

    /// The most recorders the clients of one region share in a closed-loop run.
    static let closedLoopRecordersPerRegion = 64

    /// Recorders (and acknowledgement buffers) per region of an open-loop run: spreads the
    /// recording lock over several tasks.
    static let openLoopSlotsPerRegion = 8

    /// The longest gap an open loop draws between two intended starts (an hour): keeps the
    /// arithmetic in range for any rate.
    static let maximumIntervalNanos = 3600e9

    /// The request of a transfer issued from `region` (its class drawn by the mix, see
    /// ``makeTransfer(id:region:chooser:random:)``).
    func makeRequest(id: UInt64, region: Int, chooser: RegionKeyChooser, random: inout SplitMix64)
        -> TransferRequest
    {
        makeTransfer(id: id, region: region, chooser: chooser, random: &random).request
    }

    /// A transfer issued from `region`, its class drawn by the spec's mix weights from the
    /// client's random stream (DESIGN.md, "Transfer classes"):
    /// - single_region: both accounts homed in `region`;
    /// - cross_region: debit an account in `region`, credit one in another region (uniform over
    ///   the others);
    /// - global: debit an account in `region`, credit one account in every other region, the
    ///   amount (drawn at least R - 1) split as evenly as it goes, so every credit is at least 1
    ///   and the credits sum to the amount.
    ///
    /// A spec of single-region transfers only draws no class, so its streams are what they were
    /// before classes existed.
    func makeTransfer(id: UInt64, region: Int, chooser: RegionKeyChooser, random: inout SplitMix64)
        -> (transferClass: TransferClass, request: TransferRequest)
    {
        let transferClass = drawClass(&random)
        let regions = chooser.regions
        switch transferClass {
        case .singleRegion:
            let (from, to) = chooser.pair(region: region, &random)
            let amount = drawAmount(atLeast: 1, &random)
            return (.singleRegion, TransferRequest(id: id, from: from, to: to, amount: amount, clientRegion: region))
        case .crossRegion:
            // checkFeatures refuses a cross-region mix in one region.
            precondition(regions >= 2, "a cross-region transfer needs two regions")
            let other = Int(random.next() % UInt64(regions - 1))
            let destination = other < region ? other : other + 1
            let from = chooser.account(region: region, &random)
            let to = chooser.account(region: destination, &random)
            let amount = drawAmount(atLeast: 1, &random)
            return (.crossRegion, TransferRequest(id: id, from: from, to: to, amount: amount, clientRegion: region))
        case .global:
            precondition(regions >= 2, "a global transfer needs two regions")
            let credits = Int64(regions - 1)
            let amount = drawAmount(atLeast: credits, &random)
            let share = amount / credits
            let remainder = amount % credits
            var legs = [TransferLeg(account: chooser.account(region: region, &random), amount: 0 &- amount)]
            legs.reserveCapacity(regions)
            var index: Int64 = 0
            for other in 0..<regions where other != region {
                let credit = share + (index < remainder ? 1 : 0)
                legs.append(TransferLeg(account: chooser.account(region: other, &random), amount: credit))
                index += 1
            }
            return (.global, TransferRequest(id: id, clientRegion: region, legs: TransferLegs(legs)))
        }
    }

    /// The class of the next transfer, by the mix's weights; no draw when only one class has
    /// weight.
    private func drawClass(_ random: inout SplitMix64) -> TransferClass {
        let mix = spec.mix
        let single = mix.fraction(of: .singleRegion)
        let cross = mix.fraction(of: .crossRegion)
        let global = mix.fraction(of: .global)
        if cross == 0 && global == 0 { return .singleRegion }
        if single == 0 && global == 0 { return .crossRegion }
        if single == 0 && cross == 0 { return .global }
        let u = Double(random.next() >> 11) / Double(1 << 53)
        if u < single { return .singleRegion }
        if u < single + cross || global == 0 { return .crossRegion }
        return .global
    }

    /// An amount from the spec's range cut below at `floor` (just `floor` when the whole range
    /// lies below it).
    private func drawAmount(atLeast floor: Int64, _ random: inout SplitMix64) -> Int64 {
        let low = max(spec.amount.min, floor)
        let high = max(spec.amount.max, low)
        let span = UInt64(high - low + 1)
        return low + Int64(random.next() % span)
    }

    /// Records in microseconds, keeping `l2 + l1 + l0 == e2e` exact after rounding. The
    /// end-to-end time is what the client saw (`measured`, at least what the backend reports),
    /// plus the open-loop lag; L1 takes the remainder, as it holds the execution self time and
    /// the client-side queueing.
    private func record(
        _ result: TransferResult, _ transferClass: TransferClass, measured: UInt64, lag: UInt64,
        into recorder: ClientRecorder
    ) {
        let endToEnd = (max(measured, result.endToEndNanos) &+ lag) / 1000
        let l2 = result.l2Nanos / 1000
        let l0 = min(result.l0Nanos / 1000, endToEnd &- min(l2, endToEnd))
        let l1 = endToEnd &- l2 &- l0
        let outcome: TransferOutcome
        switch result.outcome {
        case .committed: outcome = .committed
        case .rejected: outcome = .rejected
        case .failed(let sqlState): outcome = .failed(sqlstate: sqlState)
        }
        // One sample per transfer. An open loop measures from the intended start, which already
        // charges a stall to every transfer it delayed; HdrHistogram's recordCorrectedValue on
        // top would count the lag twice (and cost lag / interval records per transfer).
        recorder.record(
            transferClass, endToEndMicros: endToEnd, l2: l2, l1: l1, l0: l0, outcome: outcome,
            retries: result.retriedErrors.count, retriedErrors: result.retriedErrors,
            l2Spans: Self.spans(result.l2Breakdown))
    }
}

extension WorkloadDriver {
    /// The engine's L2 breakdown in microseconds per span.
    static func spans(_ breakdown: L2Breakdown) -> L2Spans {
        var spans = L2Spans()
        spans[.timestamp] = breakdown.timestamp / 1000
        spans[.gateway] = breakdown.gateway / 1000
        spans[.network] = breakdown.network / 1000
        spans[.replication] = breakdown.replication / 1000
        spans[.decision] = breakdown.decision / 1000
        spans[.push] = breakdown.push / 1000
        spans[.redirect] = breakdown.redirect / 1000
        return spans
    }
}

extension TransferResult {
    /// Whether the transfer failed with an engine error (not a business rejection).
    var isFailure: Bool {
        if case .failed = outcome { return true }
        return false
    }
}
