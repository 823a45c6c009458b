import Foundation
import Runtime
import Storage
import Testing

@testable import Engine

/// The transfer body refuses invalid requests itself, whatever calls it (a backend, a batch, a
/// future L2 participant), before it writes anything.
@Suite("Transfer body")
struct TransferBodyTests {
    @Test("the body refuses a same-account, non-positive or ledger-key transfer before any write")
    func bodyValidates() async throws {
        try await withDataDirectory { directory in
            let storage = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? storage.close() }
            let manager = TransactionManager(storage: storage)
            let seed = try manager.begin(.readCommitted)
            for key in [AccountID(0), 1] { try await seed.write(key, Row(balance: 100)) }
            try await manager.commit(seed)
            let cases: [(TransferRequest, Transfer.InvalidRequest)] = [
                (TransferRequest(id: 1, from: 1, to: 1, amount: 5), .sameAccount(1)),
                (TransferRequest(id: 2, from: 0, to: 1, amount: 0), .nonPositiveAmount(0)),
                (TransferRequest(id: 3, from: 0, to: 1, amount: -5), .nonPositiveAmount(-5)),
                (
                    TransferRequest(id: 4, from: Transfer.ledgerBase | 9, to: 1, amount: 5),
                    .notAnAccount(Transfer.ledgerBase | 9)
                ),
                (TransferRequest(id: 5, from: 0, to: 7, amount: 5), .noSuchAccount(7)),
            ]
            for (request, expected) in cases {
                let transaction = try manager.begin(.serializable)
                await #expect(throws: expected) {
                    try await Transfer.execute(
                        request, in: transaction, overdraft: true, payload: [], ledgerPayload: [])
                }
                try await manager.commit(transaction)
            }
            let check = try manager.begin(.readCommitted)
            #expect(try await check.read(0)?.balance == 100)
            #expect(try await check.read(1)?.balance == 100)
            for id in UInt64(1)...5 { #expect(try await check.read(Transfer.ledgerKey(id)) == nil) }
            try await manager.commit(check)
        }
    }

    @Test("legs are validated as a whole: balanced, one debit and one credit at least, each account once")
    func legValidation() throws {
        func request(_ pairs: [(AccountID, Int64)]) -> TransferRequest {
            TransferRequest(id: 1, legs: TransferLegs(pairs.map { TransferLeg(account: $0.0, amount: $0.1) }))
        }
        let cases: [(TransferRequest, Transfer.InvalidRequest)] = [
            (request([(0, -10), (1, 5), (2, 4)]), .unbalanced(sum: -1, credits: 9, amount: 9)),
            (request([(0, -10), (1, 4), (0, 6)]), .sameAccount(0)),
            (request([(0, -10), (1, 10), (2, 0)]), .nonPositiveAmount(0)),
            (request([(0, 10), (1, 5)]), .oneSided(debits: 0, credits: 2)),
            (request([(0, -10)]), .nonPositiveAmount(0)),
            (request([(0, -10), (Transfer.ledgerBase, 10)]), .notAnAccount(Transfer.ledgerBase)),
        ]
        for (request, expected) in cases {
            #expect(throws: expected) { try Transfer.validate(request) }
        }
        #expect(throws: Never.self) { try Transfer.validate(request([(5, 3), (2, -9), (7, 6)])) }
    }

    @Test("a global transfer debits one account, credits each other, and records its legs in one ledger row")
    func multiLegExecution() async throws {
        try await withDataDirectory { directory in
            let storage = try StorageEngine(directory: directory, options: StorageOptions(durability: .none))
            defer { try? storage.close() }
            let manager = TransactionManager(storage: storage)
            let seed = try manager.begin(.readCommitted)
            for key in AccountID(0)..<4 { try await seed.write(key, Row(balance: 100)) }
            try await manager.commit(seed)
            let legs: TransferLegs = [
                TransferLeg(account: 3, amount: -90), TransferLeg(account: 0, amount: 30),
                TransferLeg(account: 2, amount: 31), TransferLeg(account: 1, amount: 29),
            ]
            #expect(legs.inKeyOrder().map(\.account) == [0, 1, 2, 3])
            let request = TransferRequest(id: 42, clientRegion: 2, legs: legs)
            #expect(request.amount == 90)
            let payload = Transfer.ledgerPayload(legs: request.legs, padding: 16)
            #expect(payload.count == 8 + 16 * 4, "the legs outgrow the padding")
            #expect(Transfer.decodeLedger(payload, amount: 90) == Array(legs))
            let transaction = try manager.begin(.serializable)
            try await Transfer.execute(request, in: transaction, overdraft: false, payload: [], ledgerPayload: payload)
            try await manager.commit(transaction)
            let check = try manager.begin(.readCommitted)
            #expect(try await check.read(0)?.balance == 130)
            #expect(try await check.read(1)?.balance == 129)
            #expect(try await check.read(2)?.balance == 131)
            #expect(try await check.read(3)?.balance == 10)
            let ledger = try #require(try await check.read(Transfer.ledgerKey(42)))
            #expect(ledger.balance == 90)
            #expect(Transfer.decodeLedger(ledger.payload, amount: ledger.balance) == Array(legs))
            try await manager.commit(check)
            // Two legs keep the 16-byte ledger payload (debited, credited account) of before.
            let twoLegs = TransferRequest(id: 1, from: 3, to: 1, amount: 5).legs
            let padded = Transfer.ledgerPayload(legs: twoLegs, padding: 32)
            #expect(padded.count == 32)
            #expect(Transfer.ledgerPayload(legs: twoLegs, padding: 0).count == 16)
            #expect(
                Transfer.decodeLedger(padded, amount: 5)
                    == [TransferLeg(account: 3, amount: -5), TransferLeg(account: 1, amount: 5)])
            #expect(
                Transfer.decodeLedger(Transfer.ledgerPayload(legs: twoLegs.inKeyOrder(), padding: 32), amount: 5)
                    == [TransferLeg(account: 3, amount: -5), TransferLeg(account: 1, amount: 5)],
                "the debit is found whatever the legs' order")
            #expect(Transfer.decodeLedger([1, 2, 3], amount: 5) == nil)
        }
    }
}
