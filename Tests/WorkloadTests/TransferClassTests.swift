import Engine
import Foundation
import PropertyBased
import Results
import Storage
import Testing
import WorkloadSpec

@testable import Workload

/// The class of a request the driver made, read back from where its accounts live: the checks
/// every transfer class must pass (DESIGN.md, "Transfer classes").
private func expectShape(
    _ transferClass: TransferClass, _ request: TransferRequest, home: Int, placement: AccountPlacement,
    amount: ClosedRange<Int64>
) {
    let regions = placement.regions
    #expect(request.clientRegion == home)
    #expect(request.legs.reduce(Int64(0)) { $0 + $1.amount } == 0, "legs sum to zero")
    #expect(Set(request.legs.map(\.account)).count == request.legs.count, "no account twice")
    let debits = request.legs.filter(\.isDebit)
    let credits = request.legs.filter { !$0.isDebit }
    #expect(debits.count == 1)
    #expect(credits.allSatisfy { $0.amount >= 1 })
    #expect(credits.reduce(Int64(0)) { $0 + $1.amount } == request.amount)
    guard let debit = debits.first else { return }
    #expect(placement.region(of: debit.account) == home, "the debit is in the client's region")
    let creditRegions = credits.map { placement.region(of: $0.account) }
    switch transferClass {
    case .singleRegion:
        #expect(request.legs.count == 2)
        #expect(creditRegions == [home])
        #expect(amount.contains(request.amount))
    case .crossRegion:
        #expect(request.legs.count == 2)
        #expect(creditRegions.count == 1 && creditRegions[0] != home)
        #expect(amount.contains(request.amount))
    case .global:
        #expect(request.legs.count == regions)
        #expect(Set(creditRegions) == Set((0..<regions).filter { $0 != home }))
        #expect(creditRegions.count == regions - 1)
        #expect(request.amount >= Int64(regions - 1))
        #expect(request.amount <= max(amount.upperBound, Int64(regions - 1)))
        // The split is as even as it can be: credits differ by at most one.
        let split = credits.map(\.amount)
        #expect((split.max() ?? 0) - (split.min() ?? 0) <= 1)
    }
}

@Suite("Workload driver: transfer classes")
struct TransferClassTests {
    @Test("every class has its shape: accounts in the right regions, legs summing to zero, credits >= 1")
    func shapes() async {
        await propertyCheck(
            input: Gen.int(in: 2...7), Gen.int(in: 0...500), Gen.int(in: 1...50), Gen.int(in: 0...Int.max)
        ) { regions, extra, amountMax, seed in
            await failOnThrow("regions \(regions), extra \(extra), seed \(seed)") {
                let accounts = 2 * regions + extra
                let spec = regionSpec(regions: regions) {
                    $0.accounts = accounts
                    $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 1)
                    $0.amount = .init(min: 1, max: Int64(amountMax))
                    $0.seed = UInt64(seed)
                }
                let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
                let chooser = try driver.keyChooser()
                let placement = AccountPlacement(accounts: accounts, regions: regions)
                var random = SplitMix64(seed: UInt64(seed))
                var seen: Set<TransferClass> = []
                for sequence in 0..<(60 * regions) {
                    let home = sequence % regions
                    let (transferClass, request) = driver.makeTransfer(
                        id: UInt64(sequence), region: home, chooser: chooser, random: &random)
                    seen.insert(transferClass)
                    expectShape(
                        transferClass, request, home: home, placement: placement, amount: 1...Int64(amountMax))
                }
                #expect(seen == Set(TransferClass.allCases), "seed \(seed)")
            }
        }
    }

    @Test("a global transfer's amount is at least R - 1, so each credit gets at least 1")
    func globalAmountFloor() throws {
        let spec = regionSpec(regions: 5) {
            $0.accounts = 50
            $0.mix = .init(singleRegion: 0, crossRegion: 0, global: 1)
            $0.amount = .init(min: 1, max: 1)
        }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        let chooser = try driver.keyChooser()
        var random = SplitMix64(seed: 3)
        for home in 0..<5 {
            let (transferClass, request) = driver.makeTransfer(id: 1, region: home, chooser: chooser, random: &random)
            #expect(transferClass == .global)
            #expect(request.amount == 4)
            #expect(request.legs.filter { !$0.isDebit }.map(\.amount) == [1, 1, 1, 1])
        }
    }

    @Test("the classes follow the mix's weights; a class of weight 0 never appears")
    func mixWeights() throws {
        let spec = regionSpec(regions: 3) {
            $0.accounts = 300
            $0.mix = .init(singleRegion: 5, crossRegion: 3, global: 2)
        }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        let chooser = try driver.keyChooser()
        var random = SplitMix64(seed: 11)
        var counts: [TransferClass: Int] = [:]
        let draws = 20_000
        for sequence in 0..<draws {
            let (transferClass, _) = driver.makeTransfer(
                id: UInt64(sequence), region: sequence % 3, chooser: chooser, random: &random)
            counts[transferClass, default: 0] += 1
        }
        // Seeded, so deterministic; the bounds are 5 standard deviations wide.
        #expect((9_650...10_350).contains(counts[.singleRegion] ?? 0), "\(counts)")
        #expect((5_670...6_330).contains(counts[.crossRegion] ?? 0), "\(counts)")
        #expect((3_720...4_280).contains(counts[.global] ?? 0), "\(counts)")

        let noGlobal = WorkloadDriver(
            spec: regionSpec(regions: 3) {
                $0.accounts = 300
                $0.mix = .init(singleRegion: 1, crossRegion: 1, global: 0)
            }, options: DriverOptions(dataDirectory: "/tmp/unused"))
        for sequence in 0..<2_000 {
            let (transferClass, _) = noGlobal.makeTransfer(
                id: UInt64(sequence), region: sequence % 3, chooser: chooser, random: &random)
            #expect(transferClass != .global)
        }
    }

    @Test("cross-region destinations are spread over every other region")
    func crossDestinations() throws {
        let spec = regionSpec(regions: 4) {
            $0.accounts = 400
            $0.mix = .init(singleRegion: 0, crossRegion: 1, global: 0)
        }
        let driver = WorkloadDriver(spec: spec, options: DriverOptions(dataDirectory: "/tmp/unused"))
        let chooser = try driver.keyChooser()
        let placement = AccountPlacement(accounts: 400, regions: 4)
        var random = SplitMix64(seed: 5)
        var destinations: [Int: Int] = [:]
        for sequence in 0..<3_000 {
            let (_, request) = driver.makeTransfer(id: UInt64(sequence), region: 1, chooser: chooser, random: &random)
            for leg in request.legs where !leg.isDebit {
                destinations[placement.region(of: leg.account), default: 0] += 1
            }
        }
        #expect(Set(destinations.keys) == [0, 2, 3])
        #expect(destinations.values.allSatisfy { (850...1_150).contains($0) }, "\(destinations)")
    }

    @Test("closed loop: each class is recorded under its own name, per variant and per region", arguments: [2, 3])
    func closedLoopClasses(regions: Int) async throws {
        let spec = regionSpec(regions: regions) {
            $0.accounts = 60
            $0.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
            $0.load = .closedLoop(clients: [6])
            $0.length = .transactions(900)
        }
        let backend = RecordingBackend()
        let result = try await runFirstVariant(spec) { _ in backend }
        try expectClassesRecorded(result, seen: backend.seen, regions: regions, accounts: 60)
    }

    @Test("open loop: each class is recorded under its own name, per variant and per region")
    func openLoopClasses() async throws {
        let spec = regionSpec(regions: 3) {
            $0.accounts = 60
            $0.mix = .init(singleRegion: 0.5, crossRegion: 0.3, global: 0.2)
            $0.load = .openLoop(rate: 1_000, maxInFlight: 64)
            // Two seconds of schedule, so the time series has whole seconds to show (a count, not
            // a duration: a starved scheduler on a busy machine still sends them all).
            $0.length = .transactions(2_000)
        }
        let backend = RecordingBackend()
        let result = try await runFirstVariant(spec) { _ in backend }
        try expectClassesRecorded(result, seen: backend.seen, regions: 3, accounts: 60)
        // The time series carries every class (about 400 global transfers over the run).
        let classes = Set(result.timeSeries.flatMap(\.classes).map(\.transferClass))
        #expect(classes == Set(TransferClass.allCases))
    }

    func expectClassesRecorded(
        _ result: VariantResult, seen: [TransferRequest], regions: Int, accounts: Int
    ) throws {
        #expect(Set(result.classes.map(\.transferClass)) == Set(TransferClass.allCases))
        // What was issued per class, read from the requests (a global transfer has R legs; with
        // two regions it has the shape of a cross-region one, so only the totals are compared).
        let placement = AccountPlacement(accounts: accounts, regions: regions)
        let single = seen.filter { request in
            request.legs.allSatisfy { placement.region(of: $0.account) == request.clientRegion }
        }.count
        let measuredSingle = try #require(result.result(for: .singleRegion)).count
        #expect(measuredSingle <= single)
        #expect(result.transfers <= seen.count)
        if regions > 2 {
            let global = seen.filter { $0.legs.count == regions }.count
            #expect(try #require(result.result(for: .global)).count <= global)
        }
        // Regions partition every class.
        #expect(ClassResult.merged(result.regions.flatMap(\.classes)) == result.classes)
        for region in result.regions {
            #expect(Set(region.classes.map(\.transferClass)) == Set(TransferClass.allCases), "\(region.region)")
        }
    }
}
