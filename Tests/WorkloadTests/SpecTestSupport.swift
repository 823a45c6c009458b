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
