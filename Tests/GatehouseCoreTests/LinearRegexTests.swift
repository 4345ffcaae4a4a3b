import Foundation
import PropertyBased
import Testing
@testable import GatehouseCore

@Suite("Linear-time regex")
struct LinearRegexTests {
    func matches(_ pattern: String, _ text: String) throws -> Bool {
        try LinearRegex(pattern).wholeMatch(text)
    }

    func refusal(_ pattern: String) -> String? {
        do throws(RegexSyntaxError) {
            _ = try LinearRegex(pattern)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func catastrophicPatternIsLinear() throws {
        // Swift's Regex (backtracking) ran for minutes on this; every write waited behind it.
        let started = ContinuousClock.now
        #expect(try !self.matches("^(a+)+$", String(repeating: "a", count: 40) + "!"))
        #expect(try self.matches("^(a+)+$", String(repeating: "a", count: 40)))
        #expect(try !self.matches("(a|aa)*b", String(repeating: "a", count: 4000)))
        #expect(try !self.matches("(.*){1,32}x", String(repeating: "y", count: 4000)))
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func theSupportedSubset() throws {
        #expect(try self.matches("[a-z0-9_-]+", "abc-1_2"))
        #expect(try !self.matches("[a-z]+", "A B"))
        #expect(try self.matches("[^,]*", "no commas"))
        #expect(try !self.matches("[^,]*", "a,b"))
        #expect(try self.matches("\\d{3}-\\w+\\s?", "123-abc "))
        #expect(try self.matches("(?:ab|cd){2}", "abcd"))
        #expect(try !self.matches("(?:ab|cd){2}", "abcdab"))
        #expect(try self.matches("a{2,}", "aaaa"))
        #expect(try !self.matches("a{2,3}", "aaaa"))
        #expect(try self.matches("a.c", "a\u{e9}c"))
        #expect(try !self.matches("a.c", "a\nc"))
        #expect(try self.matches("\\.\\*\\[\\]\\x41\\x{263A}", ".*[]A\u{263A}"))
        #expect(try self.matches("(?<name>x)|y", "y"))
        #expect(try self.matches("a*?b+?", "aabb"))
        #expect(try self.matches("[]a]+", "]a]"))
        #expect(try self.matches("", ""))
        #expect(try !self.matches("", "x"))
        #expect(try self.matches("^$", ""))
        #expect(try self.matches("\\Aab\\z", "ab"))
        // Whole-string, as before: a pattern that matches a part does not accept the value.
        #expect(try !self.matches("[a-z]+", "abc1"))
        #expect(try self.matches("x|", ""))
        #expect(try self.matches("(a*)*", "aaa"))
    }

    @Test func unsupportedSyntaxIsRefusedByName() {
        #expect(self.refusal("(a)\\1")?.contains("backreferences") == true)
        #expect(self.refusal("a(?=b)")?.contains("lookaround") == true)
        #expect(self.refusal("(?<!a)b")?.contains("lookaround") == true)
        #expect(self.refusal("\\bword\\b")?.contains("word boundaries") == true)
        #expect(self.refusal("(?i)abc")?.contains("inline flags") == true)
        #expect(self.refusal("a*+")?.contains("possessive") == true)
        #expect(self.refusal("\\p{L}")?.contains("Unicode property") == true)
        #expect(self.refusal("[[:alpha:]]")?.contains("nested classes") == true)
        #expect(self.refusal("[a&&b]")?.contains("set operation") == true)
        #expect(self.refusal("*a") == "at character 1: '*' has nothing to repeat; escape it as \\* for a literal")
        #expect(self.refusal("a**")?.contains("cannot follow another") == true)
        #expect(self.refusal("(ab")?.contains("not closed") == true)
        #expect(self.refusal("ab)")?.contains("unmatched ')'") == true)
        #expect(self.refusal("[ab")?.contains("not closed") == true)
        #expect(self.refusal("[z-a]")?.contains("lower character to a higher") == true)
        #expect(self.refusal("a{1001}")?.contains("n ≤ 1000") == true)
        #expect(self.refusal("a{3,2}") != nil)
        #expect(self.refusal("a{,2}") != nil)
        #expect(self.refusal("\\q")?.contains("not a supported escape") == true)
    }

    @Test func sizeIsBounded() {
        #expect(self.refusal(String(repeating: "a", count: 1025))?.contains("at most 1024") == true)
        #expect(self.refusal(String(repeating: "a", count: 1024)) == nil)
        #expect(self.refusal("(a{1000}){1000}")?.contains("more than 5000 steps") == true)
        #expect(self.refusal("[a-z]{1,1000}") == nil)
        #expect(self.refusal(String(repeating: "(", count: 33) + String(repeating: ")", count: 33))?.contains("nest more than 32") == true)
        #expect(self.refusal(String(repeating: "(", count: 32) + String(repeating: ")", count: 32)) == nil)
    }

    @Test func parameterDefinitionsRefuseUnsupportedPatterns() {
        let spec = ParameterSpec(name: "p", kind: .string(default: "a", regex: "(a)\\1"))
        let problems = spec.problems(feature: "F")
        #expect(problems.count == 1)
        #expect(problems.first?.contains("backreferences (\\1, \\k<name>, \\g{…}) are not supported") == true)
        let catalog = Catalog(features: [FeatureDefinition(name: "F", stage: .alpha, defaultEnabled: false, parameters: [spec])])
        #expect(throws: GateError.self) { try catalog.validate() }
    }

    @Test func longValuesOfRegexParametersAreRefused() {
        let spec = ParameterSpec(name: "p", kind: .string(default: "", regex: "x*"))
        #expect(throws: Never.self) { try spec.check(.string(String(repeating: "x", count: 4096)), feature: "F") }
        #expect(throws: GateError.self) { try spec.check(.string(String(repeating: "x", count: 4097)), feature: "F") }
        // Without a regex nothing is matched: only the frame size bounds a value.
        let free = ParameterSpec(name: "p", kind: .string(default: "", regex: nil))
        #expect(throws: Never.self) { try free.check(.string(String(repeating: "x", count: 65536)), feature: "F") }
    }

    /// Agrees with Swift's `Regex` (the engine it replaced) on small random patterns and inputs,
    /// where backtracking is still fast.
    @Test func agreesWithSwiftRegex() async {
        await propertyCheck(count: 2000, input: RegexCase.generator) { sample in
            let old: Bool
            do {
                old = try Regex(sample.pattern).wholeMatch(in: sample.text) != nil
            } catch {
                Issue.record("Swift Regex refused \(sample.pattern): \(error)")
                return
            }
            let new: Bool
            do {
                new = try LinearRegex(sample.pattern).wholeMatch(sample.text)
            } catch {
                Issue.record("refused \(sample.pattern): \(error)")
                return
            }
            #expect(new == old, "/\(sample.pattern)/ on \"\(sample.text)\"")
        }
    }
}

/// A random pattern in the syntax both engines read alike, and a short input over a small alphabet.
struct RegexCase: Sendable, CustomStringConvertible {
    var pattern: String
    var text: String

    var description: String { "/\(self.pattern)/ on \"\(self.text)\"" }

    static func pattern<R: RandomNumberGenerator>(_ depth: Int, _ rng: inout R) -> String {
        let atoms = ["a", "b", "c", ".", "[ab]", "[^a]", "[a-c]", "\\d", "\\w", "-", "1", "\\.", "[0-9-]"]
        var result = ""
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            var atom: String
            switch Int.random(in: 0..<10, using: &rng) {
            case 0 where depth < 3:
                atom = "(" + Self.pattern(depth + 1, &rng) + ")"
            case 1 where depth < 3:
                atom = "(?:" + Self.pattern(depth + 1, &rng) + "|" + Self.pattern(depth + 1, &rng) + ")"
            default:
                atom = Random.element(atoms, &rng)
            }
            // A group gets bounded repetition only: Swift's backtracking Regex takes
            // exponential time on nested unbounded repetition (`((.*)*)*x` on 8 characters:
            // 0.14 s optimised); one random sample of three such levels held one of the
            // machine's two test threads for over ten minutes.
            let isGroup = atom.hasPrefix("(")
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: atom += isGroup ? "{0,2}" : "*"
            case 1: atom += isGroup ? "{1,2}" : "+"
            case 2: atom += "?"
            case 3: atom += "{\(Int.random(in: 0...2, using: &rng))}"
            case 4:
                let low = Int.random(in: 0...2, using: &rng)
                atom += "{\(low),\(low + Int.random(in: 0...2, using: &rng))}"
            case 5: atom += isGroup ? "{2}" : "{\(Int.random(in: 0...2, using: &rng)),}"
            default: break
            }
            result += atom
        }
        if Random.chance(15, &rng) { result = "^" + result }
        if Random.chance(15, &rng) { result += "$" }
        if Random.chance(15, &rng) { result += "|" + Self.pattern(depth + 1, &rng) }
        return result
    }

    static func make<R: RandomNumberGenerator>(_ rng: inout R) -> RegexCase {
        let alphabet: [Character] = ["a", "b", "c", "1", "-", ".", "x"]
        let text = String((0..<Int.random(in: 0...7, using: &rng)).map { _ in Random.element(alphabet, &rng) })
        return RegexCase(pattern: Self.pattern(0, &rng), text: text)
    }

    static let generator = Generator<RegexCase, Shrink.None<RegexCase>>(run: { rng in RegexCase.make(&rng) })
}
