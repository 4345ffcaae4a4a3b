import Testing
@testable import GatehouseCore

@Suite("Parameters")
struct ParameterTests {
    let feature = Fixtures.parameterized

    func spec(_ name: String) -> ParameterSpec { feature.parameter(named: name)! }

    @Test func acceptsValidValues() throws {
        try spec("n").check(.int(0), feature: "D")
        try spec("n").check(.int(10), feature: "D")
        try spec("s").check(.string("xyz"), feature: "D")
        try spec("m").check(.enumValue("fast"), feature: "D")
        try spec("t").check(.durationMs(100), feature: "D")
        try spec("b").check(.bool(true), feature: "D")
    }

    @Test(arguments: [
        ("n", ParameterValue.int(11), "11 is above the maximum 10"),
        ("n", ParameterValue.int(-1), "-1 is below the minimum 0"),
        ("n", ParameterValue.string("3"), "expected a int value, got string"),
        ("s", ParameterValue.string("ABC"), "\"ABC\" does not match /[a-z]+/"),
        ("s", ParameterValue.string("abc1"), "does not match"),
        ("m", ParameterValue.enumValue("slow"), "\"slow\" is not one of fast, safe"),
        ("m", ParameterValue.string("fast"), "expected a enum value"),
        ("t", ParameterValue.durationMs(99), "99ms is below the minimum 100ms"),
        ("t", ParameterValue.durationMs(5001), "5001ms is above the maximum 5000ms"),
        ("b", ParameterValue.int(1), "expected a bool value"),
    ])
    func refusesInvalidValues(name: String, value: ParameterValue, message: String) {
        do {
            try spec(name).check(value, feature: "D")
            Issue.record("accepted \(value) for \(name)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.reason == .invalidParameter)
            #expect(error.message.contains("parameter \(name) of D"), "\(error.message)")
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func parsesTextByType() throws {
        #expect(try spec("n").value(parsing: "7", feature: "D") == .int(7))
        #expect(try spec("b").value(parsing: "true", feature: "D") == .bool(true))
        #expect(try spec("m").value(parsing: "fast", feature: "D") == .enumValue("fast"))
        #expect(try spec("t").value(parsing: "1s500ms", feature: "D") == .durationMs(1500))
        #expect(try spec("t").value(parsing: "250", feature: "D") == .durationMs(250))
        #expect(throws: GateError.self) { try spec("t").value(parsing: "2h", feature: "D") }
        #expect(throws: GateError.self) { try spec("t").value(parsing: "5 parsecs", feature: "D") }
        #expect(throws: GateError.self) { try spec("n").value(parsing: "seven", feature: "D") }
    }

    @Test func durations() {
        #expect(DurationText.milliseconds("1h30m") == 5_400_000)
        #expect(DurationText.milliseconds("30s") == 30_000)
        #expect(DurationText.milliseconds("") == nil)
        #expect(DurationText.milliseconds("10x") == nil)
        #expect(DurationText.milliseconds("99999999999999999h") == nil)
        #expect(DurationText.milliseconds("2d250ms") == 172_800_250)
        #expect(DurationText.milliseconds("250") == 250)
    }

    @Test func specProblems() {
        #expect(spec("n").problems(feature: "D").isEmpty)
        let inverted = ParameterSpec(name: "x", kind: .int(default: 5, min: 10, max: 1))
        #expect(inverted.problems(feature: "F").contains { $0.contains("minimum 10 is above maximum 1") })
        let badDefault = ParameterSpec(name: "x", kind: .enumeration(default: "c", values: ["a", "b"]))
        #expect(badDefault.problems(feature: "F").contains { $0.contains("default c is invalid") })
        let badRegex = ParameterSpec(name: "x", kind: .string(default: "", regex: "(["))
        #expect(badRegex.problems(feature: "F").contains { $0.contains("does not compile") })
        let defaultMismatch = ParameterSpec(name: "x", kind: .string(default: "ABC", regex: "[a-z]+"))
        #expect(defaultMismatch.problems(feature: "F").contains { $0.contains("default") })
        let emptyEnum = ParameterSpec(name: "x", kind: .enumeration(default: "a", values: []))
        #expect(emptyEnum.problems(feature: "F").contains { $0.contains("at least one value") })
    }
}
