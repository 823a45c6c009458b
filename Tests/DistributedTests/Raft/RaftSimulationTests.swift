import Storage
import Testing

@testable import Distributed

/// The randomized simulation over many seeds: 3- and 5-replica groups, about 100 faults each.
/// `RAFT_SIM_SEED=<n>` replays one seed; `RAFT_SIM_SEEDS=<n>` changes how many seeds run (default 1,000);
/// `RAFT_SIM_VERBOSE=1` prints each seed as it starts; `RAFT_SIM_TRACE=1` prints the group every 50 steps.
@Suite("Raft simulation")
struct RaftSimulationTests {
    @Test("random partitions, drops, duplicates, reordering, crashes and compactions never break safety")
    func randomizedSchedules() async throws {
        let seeds: [UInt64]
        if let one = environmentValue("RAFT_SIM_SEED").flatMap(UInt64.init) {
            seeds = [one]
        } else {
            let count = environmentValue("RAFT_SIM_SEEDS").flatMap(UInt64.init) ?? 1_000
            seeds = Array(1...count)
        }
        var totals = RaftSimulation.Statistics()
        // A precondition inside the core stops the process before the seed can be reported: run with
        // RAFT_SIM_VERBOSE=1 to print each seed as it starts.
        let verbose = environmentValue("RAFT_SIM_VERBOSE") != nil
        for seed in seeds {
            // Between seeds, hand the thread back: the simulation is CPU-bound for tens of seconds, and the
            // cooperative pool has one thread per core, so tests running beside it would otherwise starve.
            await Task.yield()
            if verbose { print("raft simulation: seed \(seed)") }
            var simulation = RaftSimulation(seed: seed, size: seed % 2 == 0 ? 5 : 3)
            do {
                try simulation.run()
            } catch {
                Issue.record("\(error) — replay with RAFT_SIM_SEED=\(seed)")
                return
            }
            let s = simulation.statistics
            totals.steps += s.steps
            totals.faults += s.faults
            totals.crashes += s.crashes
            totals.partitions += s.partitions
            totals.compactions += s.compactions
            totals.snapshotsSent += s.snapshotsSent
            totals.elections += s.elections
            totals.committed += s.committed
            totals.proposals += s.proposals
        }
        print(
            "raft simulation: \(seeds.count) seeds, \(totals.steps) steps, \(totals.faults) faults, "
                + "\(totals.crashes) crashes, \(totals.partitions) partitions, \(totals.compactions) compactions, "
                + "\(totals.snapshotsSent) snapshots sent, \(totals.elections) leaders elected, \(totals.proposals) proposals, "
                + "\(totals.committed) entries committed")
        // The schedules must exercise what they claim to.
        #expect(totals.faults >= seeds.count * 100)
        #expect(totals.crashes > 0 && totals.partitions > 0 && totals.compactions > 0)
        #expect(totals.committed > UInt64(seeds.count))
        if seeds.count >= 100 { #expect(totals.snapshotsSent > 0) }
    }
}
