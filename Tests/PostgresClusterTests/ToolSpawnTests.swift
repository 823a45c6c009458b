import Foundation
import Testing

@testable import PostgresCluster

/// Children the tools start (pg_ctl, and through it the servers; pgbench) must not inherit this
/// process's descriptors. A server that inherited a WAN proxy's accepted socket kept the
/// connection open after the proxy closed it: its client never saw the end of it and waited
/// forever (a hung phase two in a clean-clone CI run; the sockets showed in the servers' fd
/// tables).
@Suite("Tool processes")
struct ToolSpawnTests {
    @Test("a child started by the tools inherits no descriptor beyond standard input, output and error")
    func noInheritedDescriptors() async throws {
        // A descriptor without close-on-exec, as a socket or file of another library might be.
        let leaked = open("/dev/null", O_RDONLY)
        try #require(leaked >= 3)
        defer { close(leaked) }
        let tools = PostgresTools(directory: "/bin")
        let outcome = try await tools.run("ls", ["/proc/self/fd"])
        #expect(outcome.status == 0)
        let descriptors = outcome.output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        // ls's own: 0, 1, 2 and the directory it lists (one more).
        #expect(!descriptors.contains(Int(leaked)), "the child holds descriptor \(leaked): \(descriptors)")
        #expect(descriptors.count <= 4, "\(descriptors)")
    }
}
