import Engine
import Results
import Runtime
import Storage
import Synchronization
import WorkloadSpec

/// Once a second: takes the clients' interval samples and the engine's gauges, appends a
/// time-series point and reports progress; at the end of warm-up, snapshots the backend's counters.
final class Sampler: Sendable {
    /// How often the sampler checks whether the run finished while waiting for the next tick.
    static let pollNanos: UInt64 = 20_000_000

    /// The gauges recorded in every second of the time series (those the backend and the caller
    /// supply): enough to show that memory stays flat over a run.
    static let seriesGauges = [
        "commit_log_entries", "heap_versions", "jemalloc_resident_bytes", "jemalloc_allocated_bytes",
    ]

    private let variant: Variant
    private let index: Int
    private let count: Int
    private let start: UInt64
    private let control: RunControl
    private let report: @Sendable (DriverProgress) -> Void
    private let countersBefore: CounterSnapshot
    private let backend: any Backend
    private let clock: any EngineClock
    private let extraGauges: @Sendable () -> [String: Double]
    private let recorders = Mutex<[ClientRecorder]>([])
    private let finished = Atomic<Bool>(false)

    init(
        variant: Variant, index: Int, count: Int, start: UInt64, control: RunControl,
        report: @escaping @Sendable (DriverProgress) -> Void, countersBefore: CounterSnapshot, backend: any Backend,
        extraGauges: @escaping @Sendable () -> [String: Double] = { [:] }
    ) {
        self.clock = control.clock
        self.extraGauges = extraGauges
        self.variant = variant
        self.index = index
        self.count = count
        self.start = start
        self.control = control
        self.report = report
        self.countersBefore = countersBefore
        self.backend = backend
    }

    func register(_ added: [ClientRecorder]) {
        recorders.withLock { $0 += added }
    }

    func finish() {
        finished.store(true, ordering: .relaxed)
    }

    /// Runs until `finish`; returns the time series (one point per measured second, the last
    /// one possibly partial).
    func run() async -> [TimeSeriesPoint] {
        var points: [TimeSeriesPoint] = []
        var committed = 0
        var errors = 0
        var warmupTick: UInt64 = 1
        var measuring = false
        var second = 0
        var lastTick = control.measureStart
        while true {
            let done = finished.load(ordering: .relaxed)
            let now = clock.nowNanos()
            if !measuring {
                if now >= control.measureStart || done {
                    countersBefore.set(backend.counters())
                    measuring = true
                    continue
                }
                let next = min(start &+ warmupTick &* 1_000_000_000, control.measureStart)
                if now >= next {
                    if next < control.measureStart {
                        report(
                            progress(
                                .warmup, Double(now &- start) / 1e9, nil, control.completed.load(ordering: .relaxed), 0,
                                0))
                    }
                    warmupTick += 1
                    continue
                }
                try? await clock.sleep(untilNanos: min(next, now &+ Sampler.pollNanos))
                continue
            }
            let next = control.measureStart &+ UInt64(second + 1) &* 1_000_000_000
            if now < next && !done {
                try? await clock.sleep(untilNanos: min(next, now &+ Sampler.pollNanos))
                continue
            }
            let end =
                done
                ? max(
                    lastTick,
                    min(
                        now,
                        control.measureEnd.load(ordering: .relaxed) > 0
                            ? control.measureEnd.load(ordering: .relaxed) : now)) : next
            let interval = Double(end &- lastTick) / 1e9
            let sample = ClientRecorder.takeMergedInterval(recorders.withLock { $0 })
            second += 1
            lastTick = end
            // A final sliver after the last whole second is not a rate worth plotting (its
            // transfers are in the variant's totals all the same).
            if !done || (!sample.isEmpty && interval >= 0.2) {
                var point = TimeSeriesPoint(second: second, sample: sample, intervalSeconds: max(interval, 1e-3))
                point.gauges = gauges()
                points.append(point)
                committed += sample.classes.reduce(0) { $0 + $1.committed }
                errors += sample.classes.reduce(0) { $0 + $1.errors }
                let elapsed = Double(end &- control.measureStart) / 1e9
                report(
                    progress(
                        .measuring, elapsed, point, committed, elapsed > 0 ? Double(committed) / elapsed : 0, errors))
            }
            if done { return points }
        }
    }

    /// The ``seriesGauges`` the backend and the caller supply now.
    private func gauges() -> [String: Double] {
        var all = backend.gauges()
        for (key, value) in extraGauges() { all[key] = value }
        var chosen: [String: Double] = [:]
        for name in Self.seriesGauges { chosen[name] = all[name] }
        return chosen
    }

    private func progress(
        _ phase: DriverProgress.Phase, _ elapsed: Double, _ point: TimeSeriesPoint?, _ done: Int, _ tps: Double,
        _ errors: Int
    ) -> DriverProgress {
        DriverProgress(
            variant: variant.name, variantIndex: index, variantCount: count, phase: phase, elapsedSeconds: elapsed,
            point: point, cumulativeCount: done, cumulativeTPS: tps, cumulativeErrors: errors)
    }
}
