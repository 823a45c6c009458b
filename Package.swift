// swift-tools-version: 6.1
// LayerBench: a three-layer transactional engine and the benchmark harness that drives it.
// Module layout and vocabulary: see DESIGN.md in the shared folder and README.md.
import PackageDescription

let package = Package(
    name: "LayerBench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "layerbench", targets: ["layerbench"]),
        .library(name: "Storage", targets: ["Storage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // jemalloc, the allocator of the `layerbench` executable (Debian libjemalloc-dev).
        .systemLibrary(
            name: "CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),

        // L0: MVCC heap, commit log, snapshots, row locks, WAL with group commit, recovery, vacuum.
        .target(
            name: "Storage",
            dependencies: [
                .product(name: "SystemPackage", package: "swift-system")
            ]
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),

        // L1: transactions, isolation, locks, sessions, errors, retries, batch commit.
        .target(
            name: "Runtime",
            dependencies: [
                "Storage",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Runtime",
                "Storage",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),

        // L2: hybrid logical clocks, the timestamp oracle, the simulated WAN, Raft (a pure state machine).
        .target(
            name: "Distributed",
            dependencies: ["Storage"]
        ),
        .testTarget(
            name: "DistributedTests",
            dependencies: [
                "Distributed",
                "Storage",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("testdata")]
        ),

        // Regions and nodes, the Backend protocol, the embedded backend.
        .target(
            name: "Engine",
            dependencies: [
                "Storage", "Runtime", "Distributed", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "Engine", "Runtime", "Storage", "Distributed",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),

        // HARNESS-TARGETS-BEGIN (Workload spec and Reporting; kept in this block)
        // WorkloadSpec: YAML specs (strict decoding with file:line:column errors); needs only Yams.
        .target(
            name: "WorkloadSpec",
            dependencies: [
                .product(name: "Yams", package: "Yams")
            ]
        ),
        // Results: the results model and histograms (no engine module).
        .target(
            name: "Results",
            dependencies: [
                "WorkloadSpec",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "ResultsTests",
            dependencies: [
                "Results",
                "WorkloadSpec",
                "Storage",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Workload: key choice, the driver, checks; maps a spec onto the engine.
        .target(
            name: "Workload",
            dependencies: [
                "Engine",
                "WorkloadSpec",
                "Results",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "WorkloadTests",
            dependencies: [
                "Workload",
                "WorkloadSpec",
                "Results",
                "Storage",
                "Engine",
                "Runtime",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")]
        ),
        // Reporting: run.json, results.csv, summary.md with SVG charts, compare and gate (no engine module).
        .target(
            name: "Reporting",
            dependencies: [
                "WorkloadSpec",
                "Results",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "ReportingTests",
            dependencies: [
                "Reporting",
                "WorkloadSpec",
                "Results",
                "Storage",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // CLI: runs the built `layerbench` binary as a user would (exit codes, files kept and written).
        .testTarget(name: "CLITests"),
        // HARNESS-TARGETS-END

        // PostgresCluster: local PostgreSQL 15 servers for a spec (`layerbench cluster up/down`), run
        // through the PostgreSQL binaries with Foundation's Process (no postgres-nio).
        .target(
            name: "PostgresCluster",
            dependencies: ["Storage", "WorkloadSpec"]
        ),
        .testTarget(
            name: "PostgresClusterTests",
            dependencies: ["PostgresCluster", "WorkloadSpec"]
        ),
        // IntegrationTests: real PostgreSQL servers (skipped, visibly, without the binaries).
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "PostgresCluster",
                "PostgresBackend",
                "WorkloadSpec",
                "Storage",
                "Engine",
                "Runtime",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),

        // WANProxy: a latency-injecting TCP proxy (swift-nio) that stands for the WAN in front of a region's
        // PostgreSQL primary; `wan-proxy` runs one from the command line (scripts/proxy-overhead).
        .target(
            name: "WANProxy",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "WANProxyTests",
            dependencies: [
                "WANProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "wan-proxy",
            dependencies: ["WANProxy"]
        ),
        // PostgresBackend: the `Backend` protocol over real PostgreSQL servers with postgres-nio (its own
        // target: postgres-nio's cold build takes minutes, and no other library target waits for it).
        .target(
            name: "PostgresBackend",
            dependencies: [
                "Engine",
                "Runtime",
                "Storage",
                "PostgresCluster",
                "WorkloadSpec",
                "Distributed",
                "WANProxy",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "PostgresBackendTests",
            dependencies: [
                "PostgresBackend",
                "PostgresCluster",
                "Engine",
                "Runtime",
                "Storage",
                "WorkloadSpec",
                "Workload",
                "Results",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),

        // jemalloc's start-up options for the `layerbench` executable (its `malloc_conf`).
        .target(name: "JemallocConfig"),

        // The command line: a thin executable over the libraries, linked with jemalloc.
        .executableTarget(
            name: "layerbench",
            dependencies: [
                "CJemalloc",
                "JemallocConfig",
                "Storage",
                "Runtime",
                "Distributed",
                "Engine",
                "WorkloadSpec",
                "Results",
                "Workload",
                "Reporting",
                "PostgresCluster",
                "PostgresBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
