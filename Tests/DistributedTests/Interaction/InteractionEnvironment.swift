@testable import Distributed

/// The interpreter of the scripted interaction tests (etcd's rafttest `InteractionEnv`, in our own
/// words): a group of cores, their in-memory disks, and a pool of messages sent but not yet delivered.
/// Every command returns the text it produced, which the test compares with the golden file.
struct InteractionEnvironment {
    struct CommandError: Error, CustomStringConvertible {
        let description: String
    }

    var nodes: [Raft] = []
    var disks: [RaftPersistentState] = []
    /// Messages sent (after their sender's write) and not yet delivered, in send order.
    var messages: [RaftMessage] = []
    var logLevel = "info"
    private var output: [String] = []

    mutating func handle(_ c: DataDrivenCase) throws -> String {
        output = []
        switch c.command {
        case "log-level":
            logLevel = try c.word(0)
            guard ["info", "none"].contains(logLevel) else { throw CommandError(description: "level info or none") }
            output.append("ok")
        case "add-nodes":
            try addNodes(c)
        case "campaign":
            let id = try c.node(0)
            try node(id) { raft in
                raft.campaign()
                return []
            }
        case "propose":
            let id = try c.node(0)
            let data = Array(try c.word(1).utf8)
            try node(id) { raft in
                do {
                    try raft.propose(data)
                    return []
                } catch {
                    return ["\(error)"]
                }
            }
        case "tick-election":
            let id = try c.node(0)
            try node(id) { raft in
                for _ in 0..<raft.config.electionTicks { raft.tick() }
                return []
            }
        case "tick-heartbeat":
            let id = try c.node(0)
            try node(id) { raft in
                for _ in 0..<raft.config.heartbeatTicks { raft.tick() }
                return []
            }
        case "transfer-leadership":
            let from = try c.node("from")
            let to = try c.node("to")
            try node(from) { raft in
                do {
                    try raft.transferLeadership(to: to)
                    return []
                } catch {
                    return ["\(error)"]
                }
            }
        case "process-ready":
            for id in try c.nodes() { try processReady(id, indent: "") }
        case "deliver-msgs":
            try deliverMessages(c)
        case "stabilize":
            try stabilize(c.nodes().isEmpty ? nodes.map(\.id) : c.nodes())
        case "compact":
            let id = try c.node(0)
            guard let index = UInt64(try c.word(1)) else { throw CommandError(description: "compact <id> <index>") }
            var snapshot = RaftSnapshot(index: 0, term: 0)
            try node(id) { raft in
                snapshot = raft.compact(through: index, data: Array("state@\(index)".utf8))
                return []
            }
            disks[Int(id - 1)].compact(to: snapshot)
            output.append(describeLog(nodes[Int(id - 1)]))
        case "restart":
            // A crash loses what is not durable: the unstable log tail and unsent messages.
            let id = try c.node(0)
            let i = Int(id - 1)
            nodes[i] = Raft(config: nodes[i].config, persisted: disks[i], applied: disks[i].snapshot.index)
            record(nodes[i].takeLogLines(), indent: "")
        case "raft-log":
            output.append(describeLog(nodes[Int(try c.node(0) - 1)]))
        case "raft-state":
            for raft in nodes {
                output.append("\(raft.id): \(raft.role) Term:\(raft.term) Lead:\(raft.leader)")
            }
        case "status":
            let raft = nodes[Int(try c.node(0) - 1)]
            for peer in raft.config.voters {
                output.append("\(peer): \(raft.progressDescription(of: peer) ?? "-")")
            }
        default:
            throw CommandError(description: "unknown command \(c.command)")
        }
        return output.joined(separator: "\n")
    }

    // MARK: - Commands

    private mutating func addNodes(_ c: DataDrivenCase) throws {
        guard let count = Int(try c.word(0)) else { throw CommandError(description: "add-nodes <count>") }
        let voters = try c.values("voters").map { value -> RaftNodeID in
            guard let id = RaftNodeID(value) else { throw CommandError(description: "voter \(value)") }
            return id
        }
        let index = try c.values("index").first.map { value -> UInt64 in
            guard let index = UInt64(value) else { throw CommandError(description: "index \(value)") }
            return index
        }
        for _ in 0..<count {
            let id = RaftNodeID(nodes.count + 1)
            var config = RaftConfig(id: id, voters: voters)
            config.randomizeElectionTimeout = false
            config.recordLog = true
            // An initial snapshot at `index` (term 1), as a group bootstrapped with a known state.
            var disk = RaftPersistentState()
            if let index {
                disk.snapshot = RaftSnapshot(index: index, term: 1)
                disk.hardState.commit = index
            }
            let raft = Raft(config: config, persisted: disk, applied: disk.snapshot.index)
            record(raft.takeLogLines(), indent: "")
            nodes.append(raft)
            disks.append(disk)
        }
    }

    /// Runs `body` on node `id`; prints the log lines it recorded, then the lines `body` returns.
    private mutating func node(_ id: RaftNodeID, _ body: (inout Raft) throws -> [String]) throws {
        guard id >= 1, id <= nodes.count else { throw CommandError(description: "no node \(id)") }
        let lines = try body(&nodes[Int(id - 1)])
        record(nodes[Int(id - 1)].takeLogLines(), indent: "")
        output.append(contentsOf: lines)
    }

    /// Carries out one node's Ready: persists it, describes it, queues its messages, advances.
    private mutating func processReady(_ id: RaftNodeID, indent: String) throws {
        guard id >= 1, id <= nodes.count else { throw CommandError(description: "no node \(id)") }
        let i = Int(id - 1)
        guard nodes[i].hasReady else {
            output.append(indent + "no ready")
            return
        }
        let ready = nodes[i].ready()
        disks[i].persist(ready)
        output.append(indent + "Ready MustSync=\(ready.mustSync):")
        if let soft = ready.softState { output.append(indent + "Lead:\(soft.leader) State:\(soft.role)") }
        if let hard = ready.hardState {
            output.append(indent + "HardState Term:\(hard.term) Vote:\(hard.vote) Commit:\(hard.commit)")
        }
        if !ready.entries.isEmpty {
            output.append(indent + "Entries:")
            for entry in ready.entries { output.append(indent + describe(entry)) }
        }
        if let snapshot = ready.snapshot {
            output.append(indent + "Snapshot Index:\(snapshot.index) Term:\(snapshot.term)")
        }
        if !ready.committedEntries.isEmpty {
            output.append(indent + "CommittedEntries:")
            for entry in ready.committedEntries { output.append(indent + describe(entry)) }
        }
        if !ready.messages.isEmpty {
            output.append(indent + "Messages:")
            for message in ready.messages { output.append(indent + describe(message)) }
        }
        messages.append(contentsOf: ready.messages)
        nodes[i].advance(ready)
        record(nodes[i].takeLogLines(), indent: indent)
    }

    /// `deliver-msgs 1 2` delivers every pending message to 1, then to 2; `drop=(3)` drops those to 3.
    private mutating func deliverMessages(_ c: DataDrivenCase) throws {
        var recipients: [(RaftNodeID, drop: Bool)] = []
        for argument in c.arguments {
            if argument.values.isEmpty {
                guard let id = RaftNodeID(argument.key) else { throw CommandError(description: argument.key) }
                recipients.append((id, false))
            } else if argument.key == "drop" {
                for value in argument.values {
                    guard let id = RaftNodeID(value) else { throw CommandError(description: value) }
                    recipients.append((id, true))
                }
            } else {
                throw CommandError(description: "unknown argument \(argument.key)")
            }
        }
        var delivered = 0
        for (id, drop) in recipients {
            delivered += try deliver(to: id, drop: drop, indent: "")
        }
        if delivered == 0 { output.append("no messages") }
    }

    private mutating func deliver(to id: RaftNodeID, drop: Bool, indent: String) throws -> Int {
        guard id >= 1, id <= nodes.count else { throw CommandError(description: "no node \(id)") }
        let mine = messages.filter { $0.to == id }
        messages.removeAll { $0.to == id }
        for message in mine {
            output.append(indent + (drop ? "dropped: " : "") + describe(message))
            if drop { continue }
            nodes[Int(id - 1)].step(message)
            record(nodes[Int(id - 1)].takeLogLines(), indent: indent)
        }
        return mine.count
    }

    /// Processes Readies and delivers messages until nothing is left, describing each step.
    private mutating func stabilize(_ ids: [RaftNodeID]) throws {
        var rounds = 0
        while true {
            rounds += 1
            guard rounds < 1_000 else { throw CommandError(description: "stabilize does not converge") }
            var progressed = false
            for id in ids where nodes[Int(id - 1)].hasReady {
                output.append("> \(id) handling Ready")
                try processReady(id, indent: "  ")
                progressed = true
            }
            for id in ids where messages.contains(where: { $0.to == id }) {
                output.append("> \(id) receiving messages")
                _ = try deliver(to: id, drop: false, indent: "  ")
                progressed = true
            }
            if !progressed { return }
        }
    }

    // MARK: - Descriptions

    private mutating func record(_ lines: [String], indent: String) {
        guard logLevel != "none" else { return }
        output.append(contentsOf: lines.map { indent + $0 })
    }

    private func describe(_ entry: RaftEntry) -> String {
        "\(entry.term)/\(entry.index) \"\(String(decoding: entry.data, as: UTF8.self))\""
    }

    private func describe(_ m: RaftMessage) -> String {
        var text = "\(m.from)->\(m.to) \(m.type.rawValue) Term:\(m.term) Log:\(m.logTerm)/\(m.index)"
        if m.reject { text += " Rejected (Hint: \(m.rejectHint))" }
        if m.commit != 0 { text += " Commit:\(m.commit)" }
        if !m.entries.isEmpty { text += " Entries:[" + m.entries.map(describe).joined(separator: ", ") + "]" }
        if let snapshot = m.snapshot { text += " Snapshot: Index:\(snapshot.index) Term:\(snapshot.term)" }
        if m.transfer { text += " (transfer)" }
        return text
    }

    private func describeLog(_ raft: Raft) -> String {
        var lines: [String] = []
        if raft.snapshot.index > 0 { lines.append("snapshot: \(raft.snapshot.term)/\(raft.snapshot.index)") }
        if raft.lastIndex >= raft.firstIndex {
            for index in raft.firstIndex...raft.lastIndex { lines.append(describe(raft.entry(at: index)!)) }
        }
        return lines.isEmpty ? "log is empty" : lines.joined(separator: "\n")
    }
}

extension DataDrivenCase {
    func word(_ position: Int) throws -> String {
        let words = arguments.filter { $0.values.isEmpty }
        guard position < words.count else {
            throw InteractionEnvironment.CommandError(description: "\(command): missing argument \(position + 1)")
        }
        return words[position].key
    }

    func node(_ position: Int) throws -> RaftNodeID {
        guard let id = RaftNodeID(try word(position)) else {
            throw InteractionEnvironment.CommandError(description: "\(command): node id expected")
        }
        return id
    }

    func node(_ key: String) throws -> RaftNodeID {
        guard let value = try values(key).first, let id = RaftNodeID(value) else {
            throw InteractionEnvironment.CommandError(description: "\(command): \(key)=<id> expected")
        }
        return id
    }

    func values(_ key: String) throws -> [String] {
        arguments.first { $0.key == key }?.values ?? []
    }

    /// Every bare numeric argument, as node ids.
    func nodes() throws -> [RaftNodeID] {
        try arguments.filter { $0.values.isEmpty }.map { argument in
            guard let id = RaftNodeID(argument.key) else {
                throw InteractionEnvironment.CommandError(description: "\(command): node id expected")
            }
            return id
        }
    }
}
