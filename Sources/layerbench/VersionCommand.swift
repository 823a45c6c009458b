import ArgumentParser

/// `layerbench version`: LayerBench, Swift and jemalloc versions (jemalloc's read at run time).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the LayerBench, Swift and jemalloc versions.",
        discussion: ExitStatus.help())

    func run() {
        print("layerbench \(layerBenchVersion)")
        print("swift \(swiftVersion)")
        print("jemalloc \(Jemalloc.version)")
        print("jemalloc malloc_conf \"\(Jemalloc.configured)\", in effect: \(Jemalloc.decay)")
        if let stats = Jemalloc.stats() {
            print("jemalloc allocated \(stats.allocated) bytes, resident \(stats.resident) bytes")
        }
    }
}

/// The Swift compiler version this binary was compiled with.
let swiftVersion: String = {
    #if compiler(>=6.3)
        "6.3"
    #elseif compiler(>=6.2)
        "6.2"
    #elseif compiler(>=6.1)
        "6.1"
    #else
        "6.0"
    #endif
}()
