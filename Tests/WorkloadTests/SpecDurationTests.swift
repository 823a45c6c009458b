import PropertyBased
import Testing
import WorkloadSpec

@Suite("Spec durations")
struct SpecDurationTests {
    @Test(
        "valid durations parse to whole microseconds",
        arguments: [
            ("0", Duration.zero), ("0ms", .zero), ("250us", .microseconds(250)), ("1µs", .microseconds(1)),
            ("250ms", .milliseconds(250)), ("20s", .seconds(20)), ("2m", .seconds(120)),
            ("1h", .seconds(3600)), ("1.5s", .milliseconds(1500)), ("0.25ms", .microseconds(250)),
            ("1.000001s", .microseconds(1_000_001)), (" 3s ", .seconds(3)), ("168h", .seconds(604_800)),
        ] as [(String, Duration)]
    )
    func valid(text: String, expected: Duration) throws {
        #expect(try SpecDuration.parse(text) == expected)
    }

    @Test(
        "invalid durations are refused with a hint",
        arguments: [
            "", "250", "1.5", "ms", "-1s", "1.5us", "1.2.3s", "10 seconds", "1d", "1.s", ".5s", "5S",
            "169h", "99999999999999h", "0.0000001s",
        ]
    )
    func invalid(text: String) {
        #expect(throws: SpecDuration.ParseError.self) { try SpecDuration.parse(text) }
    }

    @Test("a bare number is told to carry a unit")
    func bareNumberHint() {
        #expect(throws: SpecDuration.ParseError(message: "'250' has no unit", hint: "write 250ms or 250s")) {
            try SpecDuration.parse("250")
        }
    }

    @Test(
        "durations format in their largest exact unit",
        arguments: [
            (Duration.zero, "0s"), (.microseconds(1), "1us"), (.microseconds(1500), "1500us"),
            (.milliseconds(1500), "1500ms"), (.seconds(90), "90s"), (.seconds(120), "2m"),
            (.seconds(7200), "2h"),
        ] as [(Duration, String)]
    )
    func format(duration: Duration, expected: String) {
        #expect(SpecDuration.format(duration) == expected)
    }

    @Test("formatting then parsing any duration gives it back")
    func roundTrip() async {
        let units: [Int64] = [1, 1_000, 1_000_000, 60_000_000, 3_600_000_000]
        await propertyCheck(input: Gen.int(in: 0...1_000_000), Gen.int(in: 0...4)) { n, unit in
            let micros = Int64(n) * units[unit]
            let duration = Duration.microseconds(micros)
            guard duration <= SpecDuration.maximum else { return }
            let text = SpecDuration.format(duration)
            #expect((try? SpecDuration.parse(text)) == duration, "\(text)")
            #expect(SpecDuration.microseconds(of: duration) == micros)
        }
    }

    @Test("a decimal duration means the same as its exact form")
    func decimals() async {
        await propertyCheck(input: Gen.int(in: 0...1_000_000)) { n in
            let text = "\(n / 1000).\(String(repeating: "0", count: 3 - "\(n % 1000)".count))\(n % 1000)s"
            #expect((try? SpecDuration.parse(text)) == .milliseconds(n), "\(text)")
        }
    }
}
