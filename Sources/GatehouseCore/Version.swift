/// A component's version, e.g. `1.31.2`, `v1.30.0` or `1.32.0-alpha.1`.
///
/// Ordered as semantic versions, because that is how Kubernetes components
/// are versioned and how the skew guard compares a replica to a feature's
/// minimum: a pre-release sorts before its release (`1.32.0-alpha.1 <
/// 1.32.0`), numeric pre-release identifiers compare as numbers (`alpha.2 <
/// alpha.10`). A leading `v` and `+build` metadata are accepted and dropped;
/// a missing patch (`1.31`) means `.0`. Encoded as its canonical string.
public struct Version: Hashable, Sendable, Comparable {
    public var major: Int
    public var minor: Int
    public var patch: Int
    /// Dot-separated pre-release identifiers (`["alpha", "1"]`); empty for a release.
    public var prerelease: [String]

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    /// Parses `1.31.2`, `v1.30.0`, `1.32.0-alpha.1`, `1.31` or `v1.29.3+k3s1`.
    /// - Throws: `GateError.invalidArgument` saying what is wrong with the text.
    public init(parsing text: String) throws(GateError) {
        func fail(_ why: String) -> GateError {
            GateError(
                "invalid version \"\(text)\": \(why) (expected e.g. 1.31.2, v1.30.0 or 1.32.0-alpha.1)",
                reason: .invalidVersion,
                metadata: ["version": text]
            )
        }
        var rest = Substring(text)
        if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") { rest = rest[..<plus] }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            let tail = rest[rest.index(after: dash)...]
            prerelease = tail.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard prerelease.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else {
                throw fail("the pre-release part must be dot-separated letters and digits")
            }
            rest = rest[..<dash]
        }
        let numbers = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard numbers.count == 2 || numbers.count == 3 else {
            throw fail("expected major.minor or major.minor.patch")
        }
        var parsed: [Int] = []
        for part in numbers {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(part) else {
                throw fail("\"\(part)\" is not a number")
            }
            parsed.append(value)
        }
        self.init(parsed[0], parsed[1], parsed.count == 3 ? parsed[2] : 0, prerelease: prerelease)
    }

    public static func < (lhs: Version, rhs: Version) -> Bool {
        if lhs.major != rhs.major { return lhs.major < rhs.major }
        if lhs.minor != rhs.minor { return lhs.minor < rhs.minor }
        if lhs.patch != rhs.patch { return lhs.patch < rhs.patch }
        // A release is newer than any of its pre-releases.
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (left, right) in zip(lhs.prerelease, rhs.prerelease) where left != right {
            switch (Int(left), Int(right)) {
            case let (l?, r?): return l < r
            case (.some, nil): return true  // numeric identifiers sort first
            case (nil, .some): return false
            case (nil, nil): return left < right
            }
        }
        return lhs.prerelease.count < rhs.prerelease.count
    }
}

extension Version: CustomStringConvertible {
    /// Canonical spelling without the `v`: `1.32.0-alpha.1`.
    public var description: String {
        let core = "\(self.major).\(self.minor).\(self.patch)"
        return self.prerelease.isEmpty ? core : core + "-" + self.prerelease.joined(separator: ".")
    }
}

extension Version: TextCodable {
    public var text: String { self.description }
}
