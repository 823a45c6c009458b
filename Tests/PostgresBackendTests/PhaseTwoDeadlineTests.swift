import Storage
import Synchronization
import Testing

@testable import PostgresBackend

/// Phase two's bound on one participant's statement (`PostgresBackend.within`), on a manual
/// clock: the order comes from the clock, not from real time.
@Suite("Phase-two deadline")
struct PhaseTwoDeadlineTests {
    @Test("an operation that never answers gives nil once the clock passes the limit")
    func neverAnswers() async {
        let clock = ManualClock()
        let waiting = Task {
            await PostgresBackend.within(.seconds(60), on: clock) { () async -> Int in
                // Stands for a statement whose connection never delivers an answer.
                await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
                return 1
            }
        }
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: 60_000_000_000)
        #expect(await waiting.value == nil)
    }

    @Test("an operation that answers first gives its value")
    func answers() async {
        let clock = ManualClock()
        let value = await PostgresBackend.within(.seconds(60), on: clock) { 7 }
        #expect(value == 7)
    }
}
