/// The exit statuses every `layerbench` subcommand uses, and the text their `--help` shows.
///
/// One scheme for all: 0 success; 1 a usage or input error (a bad flag, spec, path, run.json, or
/// runs that cannot be compared) or a failed check; 2 a regression, from `gate` only, so that CI
/// can tell "the code got slower" from "the job is misconfigured".
enum ExitStatus {
    /// Success.
    static let ok: Int32 = 0
    /// A usage or input error, or a failed check.
    static let failure: Int32 = 1
    /// A regression found by `gate`.
    static let regression: Int32 = 2

    /// The `EXIT STATUS` section of a subcommand's help; `extra` lines are added after 0 and 1.
    static func help(_ extra: [String] = []) -> String {
        ([
            "EXIT STATUS:", "  0   success",
            "  1   usage or input error (bad flag, spec, path, run.json), failed check",
        ]
            + extra.map { "  " + $0 }).joined(separator: "\n")
    }
}
