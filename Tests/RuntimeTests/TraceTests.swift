import Runtime
import Storage
import Testing

@Suite("Trace")
struct TraceTests {
    /// L2 + L1 + L0 of the execution's trace, which must equal its end-to-end time exactly.
    static func layers<Value>(_ execution: Execution<Value>) -> UInt64 {
        execution.trace.nanos(of: .l2) + execution.trace.nanos(of: .l1) + execution.trace.nanos(of: .l0)
    }

    @Test("a committed run: the layers add up to the end-to-end time, with begin, storage and WAL flush spans")
    func committedRun() async throws {
        try await withRuntime(durability: .fsync, options: patientOptions) { manager in
            try await seedRows(manager, [1: 100, 2: 100])
            var random = SplitMix64(seed: 1)
            let execution = await manager.run(.serializable, random: &random) { transaction in
                try await perform(Transfer(from: 1, to: 2, amount: 10, forUpdate: true), in: transaction)
            }
            #expect(errorCode(of: execution) == nil)
            #expect(Self.layers(execution) == execution.endToEndNanos)
            let trace = execution.trace
            #expect(trace[.begin] > 0 && trace[.storageAccess] > 0 && trace[.walFlush] > 0)
            #expect(trace.nanos(of: .l2) == 0, "no L2 work in a local run")
            #expect(trace[.retryBackoff] == 0)
        }
    }

    @Test("a rejected run adds up too")
    func rejectedRun() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 5, 2: 0])
            var random = SplitMix64(seed: 2)
            let execution = await manager.run(.repeatableRead, random: &random) { transaction in
                try await perform(Transfer(from: 1, to: 2, amount: 10, forUpdate: false), in: transaction)
            }
            #expect(errorCode(of: execution) == .internalError, "the business error")
            #expect(Self.layers(execution) == execution.endToEndNanos)
            #expect(execution.trace[.walFlush] == 0)
        }
    }

    @Test("a retried run adds up, with its backoff as L1")
    func retriedRun() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 0])
            var random = SplitMix64(seed: 3)
            var attempt = 0
            let policy = RetryPolicy(maxAttempts: 5, baseBackoff: .milliseconds(2), maxTotal: .seconds(3600))
            let execution = await manager.run(.repeatableRead, retry: policy, random: &random) { transaction in
                attempt += 1
                let seen = try #require(try await transaction.read(1)).balance
                if attempt <= 2 {
                    let other = try manager.begin(.readCommitted)
                    try await other.write(1, Row(balance: seen + 1))
                    try await manager.commit(other)
                }
                try await transaction.write(1, Row(balance: seen + 100))
            }
            #expect(execution.attempts == 3)
            #expect(execution.trace[.retryBackoff] > 0)
            #expect(Self.layers(execution) == execution.endToEndNanos)
        }
    }

    @Test("a run that waited for a lock adds up, with the wait as L0")
    func lockWaitRun() async throws {
        try await withRuntime(options: patientOptions) { manager in
            try await seedRows(manager, [1: 100])
            let holder = try manager.begin(.readCommitted)
            _ = try await holder.readForUpdate(1)
            let waiter = Task {
                var random = SplitMix64(seed: 4)
                return await manager.run(.readCommitted, random: &random) { transaction in
                    let row = try #require(try await transaction.readForUpdate(1))
                    try await transaction.write(1, Row(balance: row.balance + 1))
                }
            }
            await waitUntil("the run queues for row 1") { manager.locks.statistics.waits == 1 }
            try await manager.commit(holder)
            let execution = await waiter.value
            #expect(errorCode(of: execution) == nil)
            #expect(execution.trace[.lockWait] > 0)
            #expect(Self.layers(execution) == execution.endToEndNanos)
        }
    }

    @Test("execution is the self time: the end-to-end time no other span covers")
    func closeExecution() {
        var trace = Trace()
        trace.add(.begin, 10)
        trace.add(.storageAccess, 30)
        trace.add(.timestamp, 5)
        trace.add(.execution, 999)
        trace.closeExecution(endToEndNanos: 100)
        #expect(trace[.execution] == 55)
        #expect(trace.nanos(of: .l1) == 65 && trace.nanos(of: .l0) == 30 && trace.nanos(of: .l2) == 5)
        var other = Trace()
        other.add(.walFlush, 7)
        let before = trace
        trace.add(other)
        #expect(trace.subtracting(before)[.walFlush] == 7)
        #expect(trace.subtracting(before).nanos(of: .l1) == 0)
    }

    @Test("each span kind belongs to its layer", arguments: SpanKind.allCases)
    func layerOfKind(kind: SpanKind) {
        let expected: Layer =
            switch kind {
            case .timestamp, .coordination, .replication, .redirect, .gatewayHop, .decision, .timestampPush: .l2
            case .poolWait, .begin, .retryBackoff, .batchWait, .execution: .l1
            case .lockWait, .storageAccess, .walFlush: .l0
            }
        #expect(kind.layer == expected)
    }
}
