import Histogram
import Synchronization
import WorkloadSpec

/// Records the outcome and per-layer latency of every transfer one client issues.
///
/// One recorder per client task, or shared by a few clients of one region when there are
/// thousands (the driver bounds the recorders per region), so its lock is rarely contended: a
/// reporter takes the interval part once a second and the driver reads the cumulative part at
/// the end. Recording sits on the hot
/// path (more than a million records a second across all clients), so the state lives in fixed
/// arrays indexed by class and layer; a record allocates nothing except when a histogram grows
/// to a new power-of-two range or a new SQLSTATE is first seen.
///
/// Memory sketch: a histogram with three significant digits holds 1,024 eight-byte counters per
/// power of two above 2,048 µs, so about 90 KB to reach one second; a client keeps six per class
/// (four layers of successes, failures, the interval), which is a few hundred KB per client.
///
/// Latency is in microseconds. For every transfer `l2 + l1 + l0 == endToEnd` (DESIGN.md,
/// "Per-layer latency"); the recorder stores what it is given and does not check it.
public final class ClientRecorder: Sendable {
    /// Cumulative figures of one class.
    struct ClassAccumulator {
        /// Latency of committed and rejected transfers, indexed by `MetricLayer.slot`.
        var success: [Histogram<UInt64>]
        /// End-to-end latency of failed transfers.
        var failureLatency: Histogram<UInt64>
        var committed = 0
        var rejected = 0
        var retries = 0
        var failed: [String: Int] = [:]
        var retriedErrors: [String: Int] = [:]
        var l2Spans = L2SpanTotals()

        init() {
            success = Array(repeating: .latency(), count: MetricLayer.slotCount)
            failureLatency = .latency()
        }

        var isEmpty: Bool { committed == 0 && rejected == 0 && retries == 0 && failed.isEmpty }

        func result(_ transferClass: TransferClass) -> ClassResult {
            var latency: [MetricLayer: Histogram<UInt64>] = [:]
            for layer in MetricLayer.allCases {
                latency[layer] = success[layer.slot]
            }
            return ClassResult(
                transferClass: transferClass,
                committed: committed,
                rejected: rejected,
                failed: failed,
                retries: retries,
                retriedErrors: retriedErrors,
                latency: latency,
                failureLatency: failureLatency,
                l2Spans: l2Spans
            )
        }
    }

    struct State {
        /// Indexed by `TransferClass.slot`.
        var classes: [ClassAccumulator]
        var interval: IntervalSample
        var scheduleLag: Histogram<UInt64>

        init() {
            classes = Array(repeating: ClassAccumulator(), count: TransferClass.slotCount)
            interval = IntervalSample()
            scheduleLag = .latency()
        }
    }

    private let state: Mutex<State>

    /// The home region (index into the spec's regions) of the client this recorder belongs to:
    /// every transfer it records is one issued from that region.
    public let region: Int

    /// A recorder with nothing recorded, for a client homed in region `region`.
    public init(region: Int = 0) {
        precondition(region >= 0, "a region index is never negative")
        state = Mutex(State())
        self.region = region
    }

    /// Records one finished transfer.
    ///
    /// - Parameters:
    ///   - transferClass: the class of the transfer.
    ///   - endToEndMicros: latency as the client saw it, from the start of the first attempt.
    ///   - l2: self time of L2 spans on the critical path.
    ///   - l1: self time of L1 spans on the critical path.
    ///   - l0: self time of L0 spans on the critical path.
    ///   - outcome: how it ended. Committed and rejected transfers go into the per-layer success
    ///     histograms; failed ones only into the end-to-end failure histogram.
    ///   - retries: attempts that were retried before the final one.
    ///   - retriedErrors: the SQLSTATE of each retried attempt.
    ///   - l2Spans: where the L2 time went, per span; added to the class's breakdown when the
    ///     transfer committed.
    public func record(
        _ transferClass: TransferClass,
        endToEndMicros: UInt64,
        l2: UInt64,
        l1: UInt64,
        l0: UInt64,
        outcome: TransferOutcome,
        retries: Int = 0,
        retriedErrors: [String] = [],
        l2Spans: L2Spans = L2Spans()
    ) {
        let slot = transferClass.slot
        state.withLock { state in
            state.classes[slot].retries += retries
            state.interval.classes[slot].retries += retries
            for sqlstate in retriedErrors {
                state.classes[slot].retriedErrors[sqlstate, default: 0] += 1
            }
            switch outcome {
            case .committed, .rejected:
                if case .committed = outcome {
                    state.classes[slot].committed += 1
                    state.classes[slot].l2Spans.add(transfer: l2Spans)
                    state.interval.classes[slot].committed += 1
                } else {
                    state.classes[slot].rejected += 1
                    state.interval.classes[slot].rejected += 1
                }
                state.classes[slot].success[MetricLayer.endToEnd.slot].record(endToEndMicros)
                state.interval.classes[slot].latency.record(endToEndMicros)
                state.classes[slot].success[MetricLayer.l2.slot].record(l2)
                state.classes[slot].success[MetricLayer.l1.slot].record(l1)
                state.classes[slot].success[MetricLayer.l0.slot].record(l0)
            case .failed(let sqlstate):
                state.classes[slot].failed[sqlstate, default: 0] += 1
                state.interval.classes[slot].errors += 1
                state.classes[slot].failureLatency.record(endToEndMicros)
            }
        }
    }

    /// Records how late an open-loop send started against its schedule.
    public func recordScheduleLag(micros: UInt64) {
        state.withLock { _ = $0.scheduleLag.record(micros) }
    }

    /// Hands out what was recorded since the last call and starts a new interval.
    ///
    /// Pass the sample returned by the previous call back as `recycling` to reuse its histogram
    /// storage (it is emptied here, outside the lock), so the clients allocate nothing new.
    public func takeInterval(recycling: IntervalSample? = nil) -> IntervalSample {
        var fresh = recycling ?? IntervalSample()
        fresh.reset()
        state.withLock { state in
            swap(&state.interval, &fresh)
        }
        return fresh
    }

    /// The cumulative results, one per class that saw any transfer, in class order.
    public func results() -> [ClassResult] {
        let classes = state.withLock { $0.classes }
        return TransferClass.allCases.compactMap { transferClass in
            let accumulator = classes[transferClass.slot]
            return accumulator.isEmpty ? nil : accumulator.result(transferClass)
        }
    }

    /// The schedule lag of an open-loop run, or `nil` when none was recorded.
    public func scheduleLag() -> Histogram<UInt64>? {
        let lag = state.withLock { $0.scheduleLag }
        return lag.totalCount == 0 ? nil : lag
    }

    /// Forgets everything recorded so far, for example at the end of the warm-up.
    public func reset() {
        let fresh = State()
        state.withLock { $0 = fresh }
    }

    /// The results of several clients merged per class: histograms added, counts summed.
    public static func mergedResults(_ recorders: [ClientRecorder]) -> [ClassResult] {
        ClassResult.merged(recorders.flatMap { $0.results() })
    }

    /// The results of several clients merged per home region, one per name in `regions` (the
    /// spec's regions in order, indexed by ``region``), each with its classes merged; a region
    /// no recorder belongs to gets an empty result.
    public static func mergedRegionResults(_ recorders: [ClientRecorder], regions: [String]) -> [RegionResult] {
        var byRegion: [[ClassResult]] = Array(repeating: [], count: regions.count)
        for recorder in recorders {
            precondition(recorder.region < regions.count, "recorder of region \(recorder.region) of \(regions.count)")
            byRegion[recorder.region] += recorder.results()
        }
        return zip(regions, byRegion).map { RegionResult(region: $0, classes: ClassResult.merged($1)) }
    }

    /// The merged schedule lag of several clients, or `nil` when none recorded any.
    public static func mergedScheduleLag(_ recorders: [ClientRecorder]) -> Histogram<UInt64>? {
        var total: Histogram<UInt64>?
        for lag in recorders.compactMap({ $0.scheduleLag() }) {
            if total == nil {
                total = lag
            } else {
                total?.add(lag)
            }
        }
        return total
    }

    /// The interval samples of several clients taken at the same tick, merged.
    public static func takeMergedInterval(_ recorders: [ClientRecorder]) -> IntervalSample {
        IntervalSample.merged(recorders.map { $0.takeInterval() })
    }
}
