import Foundation
import Testing
import WorkloadSpec

@testable import PostgresCluster

@Suite("PostgresCluster without servers")
struct ClusterTopologyTests {
    static func spec(_ asyncReplication: String) throws -> WorkloadSpec {
        let yaml = """
            name: two-by-two
            accounts: 1000
            clients: 4
            duration: 1s
            regions:
              - {name: us-east, replicas: 2}
              - {name: eu-west, replicas: 3}
            network:
              rtt:
                us-east: {eu-west: 80ms}
            optimisations:
              async_replication: \(asyncReplication)
            """
        return try WorkloadSpec.decode(bytes: Array(yaml.utf8), file: "two-by-two.yaml")
    }

    @Test("a spec's regions and replicas become the topology; a majority of replicas confirms")
    func topologyFromSpec() throws {
        let topology = try ClusterTopology(spec: Self.spec("false"))
        #expect(topology.regions == [.init(name: "us-east", replicas: 2), .init(name: "eu-west", replicas: 3)])
        #expect(topology.asyncReplication == false)
        #expect(topology.regions.map(\.synchronousStandbys) == [1, 1])
        #expect(ClusterTopology.Region(name: "a", replicas: 1).synchronousStandbys == 0)
        #expect(ClusterTopology.Region(name: "a", replicas: 5).synchronousStandbys == 2)
        #expect(try ClusterTopology(spec: Self.spec("true")).asyncReplication == true)
    }

    @Test("an async_replication matrix needs a choice, and the choice must be in the matrix")
    func matrixNeedsChoice() throws {
        let matrix = try Self.spec("[false, true]")
        let error = #expect(throws: ClusterError.self) { try ClusterTopology(spec: matrix) }
        #expect(error?.kind == .invalidTopology)
        #expect(error?.message.contains("--async-replication") == true)
        #expect(try ClusterTopology(spec: matrix, asyncReplication: true).asyncReplication == true)
        #expect(try ClusterTopology(spec: matrix, asyncReplication: false).asyncReplication == false)
        let single = try Self.spec("false")
        #expect(throws: ClusterError.self) { try ClusterTopology(spec: single, asyncReplication: true) }
    }

    @Test("a primary's settings: loopback, 2PC slots for every connection, fsync, quorum standbys")
    func primarySettings() {
        let cluster = PostgresCluster(
            directory: "/nonexistent", options: .init(maxConnections: 64))
        let sync = cluster.primaryConfiguration(port: 5555, standbys: ["r-standby1", "r-standby2"], synchronous: 1)
        #expect(sync.contains("listen_addresses = '127.0.0.1'"))
        #expect(sync.contains("port = 5555"))
        #expect(sync.contains("max_connections = 64"))
        #expect(sync.contains("max_prepared_transactions = 64"))
        #expect(sync.contains("fsync = on"))
        #expect(sync.contains("synchronous_commit = on"))
        #expect(sync.contains("synchronous_standby_names = 'ANY 1 (\"r-standby1\", \"r-standby2\")'"))
        let async = cluster.primaryConfiguration(port: 5555, standbys: ["r-standby1"], synchronous: 0)
        #expect(async.contains("synchronous_standby_names = ''"))
    }

    @Test("free ports are distinct, and a bound port is reported busy by number")
    func ports() throws {
        let ports = try PostgresTools.freePorts(8)
        #expect(Set(ports).count == 8)
        #expect(ports.allSatisfy { $0 > 0 && $0 < 65536 })
        let listener = try LoopbackListener()
        defer { listener.close() }
        let error = #expect(throws: ClusterError.self) {
            try PostgresTools.checkFree(port: listener.port, server: "r-primary")
        }
        #expect(error?.kind == .portBusy(listener.port))
        #expect(error?.message.contains("port \(listener.port)") == true)
        #expect(error?.message.contains("r-primary") == true)
    }

    @Test("down refuses a directory it did not create and leaves it alone")
    func downLeavesForeignDirectory() async throws {
        let path = NSTemporaryDirectory() + "layerbench-foreign-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path + "/keep", contents: Data("x".utf8))
        let error = await #expect(throws: ClusterError.self) { try await PostgresCluster(directory: path).down() }
        #expect(error?.kind == .directory)
        #expect(FileManager.default.fileExists(atPath: path + "/keep"))
        let missing = await #expect(throws: ClusterError.self) {
            try await PostgresCluster(directory: path + "-absent").down()
        }
        #expect(missing?.kind == .notRunning)
    }
}
