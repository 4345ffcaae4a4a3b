/// The parsed form of a parameter's regex, and the parser that builds it.
///
/// The syntax is a subset of RE2's (what features.proto promises), chosen
/// so that every pattern can be matched in time linear in the input (see
/// ``LinearRegex``): literals and escapes, `.`, classes such as `[a-z0-9_-]`
/// or `[^,]` with `\d`, `\w`, `\s` (ASCII, as in RE2) and their negations,
/// the anchors `^`, `$`, `\A`, `\z`, groups `(…)`, `(?:…)` and `(?<name>…)`,
/// alternation `|`, and the quantifiers `*`, `+`, `?`, `{m}`, `{m,}`,
/// `{m,n}` (lazy forms accepted; they match the same whole strings).
/// Backreferences, lookaround, word boundaries, inline flags, possessive
/// quantifiers, Unicode properties and nested or set-operation classes are
/// refused with a message that names them: they either need backtracking
/// or mean different things in different engines.
indirect enum RegexNode: Hashable, Sendable {
    case empty
    case scalar(Unicode.Scalar)
    case set(ScalarSet)
    /// `.`: any scalar but a newline.
    case any
    case start
    case end
    case concat([RegexNode])
    case alternation([RegexNode])
    /// `max` nil is unbounded.
    case repetition(RegexNode, min: Int, max: Int?)
}

/// A set of Unicode scalars as sorted, disjoint ranges of their values; `negated` inverts it.
struct ScalarSet: Hashable, Sendable {
    var ranges: [ClosedRange<UInt32>]
    var negated: Bool

    init(_ ranges: [ClosedRange<UInt32>], negated: Bool = false) {
        self.ranges = Self.merged(ranges)
        self.negated = negated
    }

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        var found = false
        for range in self.ranges {
            if range.lowerBound > value { break }
            if range.upperBound >= value {
                found = true
                break
            }
        }
        return found != self.negated
    }

    /// The same set as plain ranges (negation applied), for use inside a class.
    var positiveRanges: [ClosedRange<UInt32>] {
        guard self.negated else { return self.ranges }
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in self.ranges {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = range.upperBound + 1
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }

    private static func merged(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound &+ 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    static let digits = ScalarSet([0x30...0x39])
    static let word = ScalarSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    /// RE2's `\s`: tab, newline, form feed, carriage return, space.
    static let space = ScalarSet([0x09...0x0A, 0x0C...0x0D, 0x20...0x20])
}

/// Why a pattern is refused, and where.
public struct RegexSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, and what to write instead when there is something.
    public var message: String
    /// 1-based position (in Unicode scalars) of the problem, or nil when it is about the whole pattern.
    public var position: Int?

    public var description: String {
        self.position.map { "at character \($0): \(self.message)" } ?? self.message
    }
}

/// A recursive-descent parser over the pattern's Unicode scalars; nesting is bounded, so is its recursion.
struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var index = 0

    private init(_ pattern: String) {
        self.scalars = Array(pattern.unicodeScalars)
    }

    static func parse(_ pattern: String) throws(RegexSyntaxError) -> RegexNode {
        let bytes = pattern.utf8.count
        guard bytes <= LinearRegex.maximumPatternBytes else {
            throw RegexSyntaxError(message: "the pattern is \(bytes) bytes long; at most \(LinearRegex.maximumPatternBytes) are allowed", position: nil)
        }
        var parser = RegexParser(pattern)
        let node = try parser.alternation(depth: 0)
        if parser.index < parser.scalars.count {
            // Only a `)` stops an alternation early.
            throw parser.error("unmatched ')'; escape it as \\) for a literal parenthesis")
        }
        return node
    }

    private func error(_ message: String, at position: Int? = nil) -> RegexSyntaxError {
        RegexSyntaxError(message: message, position: (position ?? self.index) + 1)
    }

    private var peek: Unicode.Scalar? {
        self.index < self.scalars.count ? self.scalars[self.index] : nil
    }

    private func peek(_ offset: Int) -> Unicode.Scalar? {
        self.index + offset < self.scalars.count ? self.scalars[self.index + offset] : nil
    }

    private mutating func next() -> Unicode.Scalar? {
        guard let scalar = self.peek else { return nil }
        self.index += 1
        return scalar
    }

    private mutating func alternation(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        var branches = [try self.concatenation(depth: depth)]
        while self.peek == "|" {
            self.index += 1
            branches.append(try self.concatenation(depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func concatenation(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = self.peek, scalar != "|", scalar != ")" {
            let atomStart = self.index
            let atom = try self.atom(depth: depth)
            items.append(try self.quantified(atom, atomStart: atomStart))
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    private mutating func atom(depth: Int) throws(RegexSyntaxError) -> RegexNode {
        let start = self.index
        guard let scalar = self.next() else { preconditionFailure("atom at the end of the pattern") }
        switch scalar {
        case "(":
            return try self.group(depth: depth, start: start)
        case "[":
            return .set(try self.characterClass(start: start))
        case ".":
            return .any
        case "^":
            return .start
        case "$":
            return .end
        case "\\":
            return try self.escape(inClass: false, start: start)
        case "*", "+", "?":
            throw self.error("'\(scalar)' has nothing to repeat; escape it as \\\(scalar) for a literal", at: start)
        case "{":
            throw self.error("'{' has nothing to repeat; escape it as \\{ for a literal brace", at: start)
        default:
            return .scalar(scalar)
        }
    }

    private mutating func group(depth: Int, start: Int) throws(RegexSyntaxError) -> RegexNode {
        guard depth < LinearRegex.maximumNesting else {
            throw self.error("groups nest more than \(LinearRegex.maximumNesting) deep", at: start)
        }
        if self.peek == "?" {
            self.index += 1
            switch (self.peek, self.peek(1)) {
            case (":", _):
                self.index += 1
            case ("=", _), ("!", _), ("<", "="), ("<", "!"):
                throw self.error("lookaround ((?=…), (?!…), (?<=…), (?<!…)) is not supported: it needs backtracking", at: start)
            case ("<", _), ("P", "<"):
                // A named group: the name is only a label here.
                self.index += self.peek == "P" ? 2 : 1
                let nameStart = self.index
                while let scalar = self.peek, scalar == "_" || (scalar.isASCII && scalar.properties.isAlphabetic) || ("0"..."9").contains(scalar) {
                    self.index += 1
                }
                guard self.index > nameStart, self.next() == ">" else {
                    throw self.error("a group name is letters, digits and '_', closed by '>', as in (?<name>…)", at: start)
                }
            case ("P", "="), ("P", ">"):
                throw self.error("backreferences ((?P=name)) and subroutine calls are not supported: they need backtracking", at: start)
            default:
                throw self.error("'(?' must start (?:…) or (?<name>…); inline flags such as (?i), comments and other group kinds are not supported", at: start)
            }
        }
        let inner = try self.alternation(depth: depth + 1)
        guard self.next() == ")" else {
            throw self.error("the group opened here is not closed with ')'", at: start)
        }
        return inner
    }

    private mutating func quantified(_ atom: RegexNode, atomStart: Int) throws(RegexSyntaxError) -> RegexNode {
        let start = self.index
        let bounds: (min: Int, max: Int?)
        switch self.peek {
        case "*": self.index += 1; bounds = (0, nil)
        case "+": self.index += 1; bounds = (1, nil)
        case "?": self.index += 1; bounds = (0, 1)
        case "{": self.index += 1; bounds = try self.counted(start: start)
        default: return atom
        }
        switch atom {
        case .start, .end:
            throw self.error("an anchor cannot be repeated", at: start)
        case .empty, .scalar, .set, .any, .concat, .alternation, .repetition:
            break
        }
        // A lazy quantifier matches the same whole strings as a greedy one.
        if self.peek == "?" {
            self.index += 1
        } else if self.peek == "+" {
            throw self.error("possessive quantifiers (*+, ++, ?+) are not supported", at: self.index)
        }
        if let scalar = self.peek, scalar == "*" || scalar == "+" || scalar == "?" || scalar == "{" {
            throw self.error("a quantifier cannot follow another; group the first, as in (?:a*)*", at: self.index)
        }
        return .repetition(atom, min: bounds.min, max: bounds.max)
    }

    /// `{m}`, `{m,}` or `{m,n}`, after the `{`.
    private mutating func counted(start: Int) throws(RegexSyntaxError) -> (min: Int, max: Int?) {
        let usage = "a counted repetition is {m}, {m,} or {m,n} with m ≤ n ≤ \(LinearRegex.maximumRepetition); escape '{' as \\{ for a literal brace"
        guard let min = self.number() else { throw self.error(usage, at: start) }
        var max: Int? = min
        if self.peek == "," {
            self.index += 1
            max = self.number()
            if max == nil, self.peek != "}" { throw self.error(usage, at: start) }
        }
        guard self.next() == "}" else { throw self.error(usage, at: start) }
        guard min <= LinearRegex.maximumRepetition, (max ?? min) <= LinearRegex.maximumRepetition, min <= (max ?? min) else {
            throw self.error(usage, at: start)
        }
        return (min, max)
    }

    /// Decimal digits, saturating above the repetition limit (so the limit's message is the one shown).
    private mutating func number() -> Int? {
        var value: Int?
        while let scalar = self.peek, ("0"..."9").contains(scalar) {
            self.index += 1
            value = Swift.min((value ?? 0) * 10 + Int(scalar.value - 0x30), LinearRegex.maximumRepetition + 1)
        }
        return value
    }

    /// After `[`: items up to the closing `]`; a `]` first is literal, as in RE2.
    private mutating func characterClass(start: Int) throws(RegexSyntaxError) -> ScalarSet {
        var negated = false
        if self.peek == "^" {
            negated = true
            self.index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let scalar = self.peek else {
                throw self.error("the class opened here is not closed with ']'", at: start)
            }
            if scalar == "]", !first {
                self.index += 1
                break
            }
            first = false
            if scalar == "[" {
                throw self.error("'[' inside a class must be escaped as \\[; nested classes and [:posix:] classes are not supported")
            }
            if let following = self.peek(1), following == scalar, scalar == "&" || scalar == "~" || scalar == "-" {
                throw self.error("'\(scalar)\(scalar)' inside a class is a set operation in some engines; escape it (\\\(scalar)) to mean the character")
            }
            let itemStart = self.index
            let low = try self.classItem()
            if self.peek == "-", let after = self.peek(1), after != "]" {
                self.index += 1
                let high = try self.classItem()
                guard case .single(let from) = low, case .single(let to) = high, from.value <= to.value else {
                    throw self.error("a range in a class goes from a lower character to a higher one, as in a-z", at: itemStart)
                }
                ranges.append(from.value...to.value)
            } else {
                switch low {
                case .single(let scalar): ranges.append(scalar.value...scalar.value)
                case .set(let set): ranges += set.positiveRanges
                }
            }
        }
        return ScalarSet(ranges, negated: negated)
    }

    private enum ClassItem {
        case single(Unicode.Scalar)
        case set(ScalarSet)
    }

    private mutating func classItem() throws(RegexSyntaxError) -> ClassItem {
        let start = self.index
        guard let scalar = self.next() else { throw self.error("the class is not closed with ']'") }
        guard scalar == "\\" else { return .single(scalar) }
        switch try self.escape(inClass: true, start: start) {
        case .scalar(let value): return .single(value)
        case .set(let set): return .set(set)
        case .empty, .any, .start, .end, .concat, .alternation, .repetition:
            throw self.error("this escape cannot be used inside a class", at: start)
        }
    }

    /// After a backslash.
    private mutating func escape(inClass: Bool, start: Int) throws(RegexSyntaxError) -> RegexNode {
        guard let scalar = self.next() else {
            throw self.error("the pattern ends with a lone backslash; write \\\\ for a literal one", at: start)
        }
        switch scalar {
        case "d": return .set(.digits)
        case "D": return .set(ScalarSet(ScalarSet.digits.ranges, negated: true))
        case "w": return .set(.word)
        case "W": return .set(ScalarSet(ScalarSet.word.ranges, negated: true))
        case "s": return .set(.space)
        case "S": return .set(ScalarSet(ScalarSet.space.ranges, negated: true))
        case "n": return .scalar("\n")
        case "t": return .scalar("\t")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "A" where !inClass: return .start
        case "z" where !inClass: return .end
        case "x": return .scalar(try self.hexEscape(start: start))
        case "1"..."9", "k", "g":
            throw self.error("backreferences (\\1, \\k<name>, \\g{…}) are not supported: they need backtracking", at: start)
        case "b", "B":
            throw self.error("word boundaries (\\b, \\B) are not supported", at: start)
        case "p", "P":
            throw self.error("Unicode property classes (\\p{…}) are not supported; list the characters in a class instead", at: start)
        default:
            if scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) {
                // Escaped punctuation, space or control: the character itself.
                return .scalar(scalar)
            }
            if !scalar.isASCII {
                return .scalar(scalar)
            }
            throw self.error("\\\(scalar) is not a supported escape", at: start)
        }
    }

    /// `\xHH` or `\x{H…}`, after the `x`.
    private mutating func hexEscape(start: Int) throws(RegexSyntaxError) -> Unicode.Scalar {
        let usage = "a hex escape is \\xHH or \\x{HHHH}, naming a Unicode scalar"
        var digits = ""
        if self.peek == "{" {
            self.index += 1
            while let scalar = self.peek, scalar != "}", digits.count <= 6 {
                digits.unicodeScalars.append(scalar)
                self.index += 1
            }
            guard self.next() == "}" else { throw self.error(usage, at: start) }
        } else {
            for _ in 0..<2 {
                guard let scalar = self.next() else { throw self.error(usage, at: start) }
                digits.unicodeScalars.append(scalar)
            }
        }
        guard !digits.isEmpty, let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw self.error(usage, at: start)
        }
        return scalar
    }
}
