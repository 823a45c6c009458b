import ArgumentParser
import Foundation
import PostgresCluster
import WorkloadSpec

/// `layerbench cluster up|down SPEC`: local PostgreSQL 15 servers for a spec's regions.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Start or stop local PostgreSQL servers for a spec's regions.",
        discussion: ExitStatus.help(),
        subcommands: [ClusterUpCommand.self, ClusterDownCommand.self])
}

/// The options `up` and `down` share.
struct ClusterLocation: ParsableArguments {
    @Argument(help: "The spec file (YAML) whose regions and replicas to serve.")
    var spec: String

    @Option(
        name: .customLong("directory"),
        help: ArgumentHelp(
            "The cluster's directory (created by `up`, removed by `down`).",
            discussion: "Default: <temporary directory>/layerbench-cluster-<spec name>."))
    var directory: String?

    @Option(name: .customLong("set"), help: "Override a key of the spec (key=value), as in `run`.")
    var overrides: [String] = []

    /// The spec, loaded with the overrides.
    func load() throws -> WorkloadSpec {
        do { return try WorkloadSpec.load(path: spec, overrides: overrides) } catch {
            Output.error(error.description)
            throw ExitCode(ExitStatus.failure)
        }
    }

    /// The cluster of `spec`.
    func cluster(_ spec: WorkloadSpec) -> PostgresCluster {
        PostgresCluster(directory: directory ?? PostgresCluster.defaultDirectory(specName: spec.name))
    }
}

/// `layerbench cluster up SPEC`.
struct ClusterUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start one PostgreSQL 15 primary per region and its replicas - 1 streaming standbys on 127.0.0.1.",
        discussion: """
            Each server gets a free port; the servers run as the 'postgres' user when layerbench runs \
            as root. Standbys are synchronous (synchronous_standby_names = 'ANY k (...)', k = replicas / 2) \
            unless optimisations.async_replication is true. Prints each server's DSN and creates the \
            'layerbench' database on every primary.

            """ + ExitStatus.help())

    @OptionGroup var location: ClusterLocation

    @Option(
        name: .customLong("async-replication"),
        help: "Which servers to start when the spec's async_replication is a matrix (false or true).")
    var asyncReplication: Bool?

    func run() async throws {
        let spec = try location.load()
        let cluster = location.cluster(spec)
        let state: ClusterState
        do {
            let topology = try ClusterTopology(spec: spec, asyncReplication: asyncReplication)
            state = try await cluster.up(topology, name: spec.name)
        } catch {
            Output.error("error: cluster up: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        print(
            "cluster '\(state.spec)' up in \(state.directory) (\(state.asyncReplication ? "async" : "sync") standbys)")
        for server in state.servers {
            print("  \(server.region) \(server.role): \(server.dsn())  (pid \(server.pid), log \(server.logFile))")
        }
    }
}

/// `layerbench cluster down SPEC`.
struct ClusterDownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop the servers `cluster up` started (pg_ctl stop -m fast) and remove their directory.",
        discussion: ExitStatus.help())

    @OptionGroup var location: ClusterLocation

    func run() async throws {
        let spec = try location.load()
        let cluster = location.cluster(spec)
        do {
            let state = try await cluster.down()
            print("cluster '\(state.spec)' down: stopped \(state.servers.count) servers, removed \(state.directory)")
        } catch {
            Output.error("error: cluster down: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
    }
}
