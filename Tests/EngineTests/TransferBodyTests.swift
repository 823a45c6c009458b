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
}
