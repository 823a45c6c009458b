import Testing
import WorkloadSpec

/// Decodes `yaml` and returns the error it throws, or nil when it decodes.
func specError(
    _ yaml: String,
    file: String = "specs/test.yaml",
    overrides: [String] = []
) -> SpecError? {
    do {
        _ = try WorkloadSpec.decode(yaml: yaml, file: file, overrides: overrides)
        return nil
    } catch {
        return error
    }
}

/// The two keys every spec needs, as the first two lines of a test spec.
let minimalSpec = """
    name: test
    accounts: 100

    """

/// Runs the body of a property and records what it throws as an issue. `propertyCheck`
/// (swift-property-based 2.0) runs its body under `try?`, so an error thrown there would pass
/// the check silently.
func failOnThrow(_ context: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void)
    async
{
    do { try await body() } catch { Issue.record(error, "\(context)", sourceLocation: sourceLocation) }
}
