/// A parameter's regex, compiled to a Thompson NFA and matched by simulating every state at once.
///
/// A backtracking engine (Swift `Regex`, NSRegularExpression) takes
/// exponential time on patterns like `^(a+)+$` against `aaaa…a!`: one such
/// parameter once froze every write for minutes. Here each input scalar
/// advances a set of program positions, each position at most once per
/// step, so a match costs O(program × input) whatever the pattern, as in
/// RE2 (whose syntax this is a subset of; see ``RegexNode``). Patterns are
/// bounded (``maximumPatternBytes``, ``maximumRepetition``,
/// ``maximumInstructions``), and so is the time of any one match.
///
/// Matching is whole-string (the value must match from its first scalar to
/// its last, as `Regex.wholeMatch` did) over Unicode scalars.
public struct LinearRegex: Hashable, Sendable {
    /// The longest pattern, in UTF-8 bytes.
    public static let maximumPatternBytes = 1024
    /// The largest count in `{m}`, `{m,}` or `{m,n}`.
    public static let maximumRepetition = 1000
    /// The largest compiled program: counted repetitions copy what they repeat.
    public static let maximumInstructions = 5000
    /// How deeply groups may nest (bounds the parser's and compiler's recursion).
    public static let maximumNesting = 32

    public let pattern: String
    let program: [Instruction]

    /// Compiles `pattern`, or says what in it is not supported.
    public init(_ pattern: String) throws(RegexSyntaxError) {
        let node = try RegexParser.parse(pattern)
        let size = Self.size(of: node)
        guard size <= Self.maximumInstructions else {
            throw RegexSyntaxError(
                message: "the pattern compiles to more than \(Self.maximumInstructions) steps (counted repetitions copy what they repeat); use smaller counts",
                position: nil
            )
        }
        var program: [Instruction] = []
        program.reserveCapacity(size + 1)
        Self.emit(node, into: &program)
        program.append(.match)
        self.pattern = pattern
        self.program = program
    }

    /// Whether the whole of `text` matches.
    public func wholeMatch(_ text: String) -> Bool {
        var current = ThreadSet(capacity: self.program.count)
        var next = ThreadSet(capacity: self.program.count)
        var pending: [Int] = []
        let scalars = text.unicodeScalars
        var position = scalars.startIndex
        self.addThread(0, to: &current, atStart: true, atEnd: position == scalars.endIndex, pending: &pending)
        while position != scalars.endIndex {
            if current.isEmpty { return false }
            let scalar = scalars[position]
            position = scalars.index(after: position)
            let atEnd = position == scalars.endIndex
            for pc in current.members {
                let advances: Bool
                switch self.program[pc] {
                case .scalar(let expected): advances = scalar == expected
                case .set(let set): advances = set.contains(scalar)
                case .any: advances = scalar != "\n"
                case .match, .split, .jump, .assertStart, .assertEnd: advances = false
                }
                if advances {
                    self.addThread(pc + 1, to: &next, atStart: false, atEnd: atEnd, pending: &pending)
                }
            }
            swap(&current, &next)
            next.removeAll()
        }
        return current.contains(self.program.count - 1)
    }

    /// Adds `pc` and everything reachable from it without consuming input; iterative, each position once.
    private func addThread(_ pc: Int, to set: inout ThreadSet, atStart: Bool, atEnd: Bool, pending: inout [Int]) {
        pending.append(pc)
        while let pc = pending.popLast() {
            guard set.insert(pc) else { continue }
            switch self.program[pc] {
            case .jump(let target):
                pending.append(target)
            case .split(let first, let second):
                pending.append(second)
                pending.append(first)
            case .assertStart:
                if atStart { pending.append(pc + 1) }
            case .assertEnd:
                if atEnd { pending.append(pc + 1) }
            case .scalar, .set, .any, .match:
                break
            }
        }
    }

    // MARK: - Compilation

    enum Instruction: Hashable, Sendable {
        case scalar(Unicode.Scalar)
        case set(ScalarSet)
        case any
        case split(Int, Int)
        case jump(Int)
        case assertStart
        case assertEnd
        case match
    }

    /// The number of instructions `node` compiles to, saturating just above the limit.
    private static func size(of node: RegexNode) -> Int {
        let cap = Self.maximumInstructions + 1
        func bounded(_ value: Int) -> Int { Swift.min(value, cap) }
        func times(_ count: Int, _ size: Int) -> Int {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            return overflow ? cap : bounded(product)
        }
        switch node {
        case .empty:
            return 0
        case .scalar, .set, .any, .start, .end:
            return 1
        case .concat(let items):
            return bounded(items.reduce(0) { bounded($0 + Self.size(of: $1)) })
        case .alternation(let branches):
            return bounded(branches.reduce(2 * (branches.count - 1)) { bounded($0 + Self.size(of: $1)) })
        case .repetition(let inner, let min, let max):
            let one = Self.size(of: inner)
            guard let max else {
                return min == 0 ? bounded(one + 2) : bounded(times(min, one) + 1)
            }
            return bounded(times(min, one) + times(max - min, one + 1))
        }
    }

    /// Thompson's construction; recursion is bounded by the nesting limit.
    private static func emit(_ node: RegexNode, into program: inout [Instruction]) {
        switch node {
        case .empty:
            break
        case .scalar(let scalar):
            program.append(.scalar(scalar))
        case .set(let set):
            program.append(.set(set))
        case .any:
            program.append(.any)
        case .start:
            program.append(.assertStart)
        case .end:
            program.append(.assertEnd)
        case .concat(let items):
            for item in items { Self.emit(item, into: &program) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for branch in branches.dropLast() {
                let split = program.count
                program.append(.split(split + 1, -1))
                Self.emit(branch, into: &program)
                jumps.append(program.count)
                program.append(.jump(-1))
                program[split] = .split(split + 1, program.count)
            }
            Self.emit(branches[branches.count - 1], into: &program)
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let inner, let min, let max):
            switch max {
            case nil where min == 0:
                // L: split(body, out); body; jump L; out:
                let split = program.count
                program.append(.split(split + 1, -1))
                Self.emit(inner, into: &program)
                program.append(.jump(split))
                program[split] = .split(split + 1, program.count)
            case nil:
                for _ in 0..<(min - 1) { Self.emit(inner, into: &program) }
                let body = program.count
                Self.emit(inner, into: &program)
                program.append(.split(body, program.count + 1))
            case let max?:
                for _ in 0..<min { Self.emit(inner, into: &program) }
                var splits: [Int] = []
                for _ in 0..<(max - min) {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, -1))
                    Self.emit(inner, into: &program)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            }
        }
    }
}

/// A set of program positions with O(1) insert, membership and clear, iterated in insertion order
/// (Briggs and Torczon's sparse set, as RE2 and Russ Cox's Pike VM use).
private struct ThreadSet {
    private var dense: [Int]
    private var sparse: [Int]
    private(set) var count = 0

    init(capacity: Int) {
        self.dense = Array(repeating: 0, count: capacity)
        self.sparse = Array(repeating: 0, count: capacity)
    }

    var isEmpty: Bool { self.count == 0 }

    var members: ArraySlice<Int> { self.dense[0..<self.count] }

    func contains(_ value: Int) -> Bool {
        let slot = self.sparse[value]
        return slot < self.count && self.dense[slot] == value
    }

    /// Inserts `value`; false when it was already there.
    mutating func insert(_ value: Int) -> Bool {
        guard !self.contains(value) else { return false }
        self.dense[self.count] = value
        self.sparse[value] = self.count
        self.count += 1
        return true
    }

    mutating func removeAll() {
        self.count = 0
    }
}
