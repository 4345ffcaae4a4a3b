/// Kubernetes' `--feature-gates=A=true,B=false`, parsed into feature override changes.
///
/// Follows Kubernetes' parser: comma-separated `Name=bool` pairs, spaces
/// around names and values ignored, empty entries skipped, booleans as Go's
/// `ParseBool` (`true`, `false`, `1`, `0`, `t`, `f`, …). Unlike Kubernetes,
/// a name given twice is refused rather than silently taking the last value,
/// since a batch is stored and audited.
public struct FeatureGatesFlag: Hashable, Sendable {
    /// One `Name=value` pair.
    public struct Entry: Hashable, Sendable {
        public var feature: String
        public var enabled: Bool

        public init(feature: String, enabled: Bool) {
            self.feature = feature
            self.enabled = enabled
        }
    }

    /// The pairs in the order given.
    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses `--feature-gates=A=true,B=false` or just `A=true,B=false`.
    /// - Throws: `invalidArgument` (`MALFORMED_FLAG`) saying which entry is wrong and why.
    public init(parsing text: String) throws(GateError) {
        let flag = "feature-gates"
        var entries: [Entry] = []
        var seen: Set<String> = []
        for entry in FlagSyntax.entries(try FlagSyntax.body(of: text, flag: flag)) {
            let pair = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else {
                throw FlagSyntax.malformed(flag, String(entry), "expected Name=true or Name=false")
            }
            let name = String(pair[0].trimmingWhitespace())
            let value = String(pair[1].trimmingWhitespace())
            guard Names.isValidFeatureName(name) else {
                throw FlagSyntax.malformed(flag, String(entry), "\"\(name)\" is not a feature name")
            }
            guard let enabled = FlagSyntax.parseBool(value) else {
                throw FlagSyntax.malformed(flag, String(entry), "\"\(value)\" is not true or false")
            }
            guard seen.insert(name).inserted else {
                throw FlagSyntax.malformed(flag, String(entry), "\(name) is given more than once")
            }
            entries.append(Entry(feature: name, enabled: enabled))
        }
        self.init(entries: entries)
    }

    /// One `setFeature` change per entry, at `scope`.
    public func changes(at scope: Scope) -> [Change] {
        self.entries.map { .setFeature($0.feature, scope: scope, enabled: $0.enabled) }
    }
}

extension FeatureGatesFlag: CustomStringConvertible {
    /// The flag's value in canonical form: `A=true,B=false`.
    public var description: String {
        self.entries.map { "\($0.feature)=\($0.enabled)" }.joined(separator: ",")
    }
}
