/// Kubernetes' `--runtime-config=api/alpha=true,batch/v1beta1=false,apps/v1/deployments`, parsed into API override changes.
///
/// Keys are selectors (`api/all`, `api/alpha`, `api/beta`, `api/ga`, a
/// group/version, or group/version/resource); a key without `=value` means
/// `true`, as in Kubernetes. A key given twice is refused.
public struct RuntimeConfigFlag: Hashable, Sendable {
    /// One `selector=value` entry.
    public struct Entry: Hashable, Sendable {
        public var selector: APISelector
        public var enabled: Bool

        public init(selector: APISelector, enabled: Bool) {
            self.selector = selector
            self.enabled = enabled
        }
    }

    /// The entries in the order given.
    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses `--runtime-config=…` or just its value.
    /// - Throws: `invalidArgument` (`MALFORMED_FLAG`) saying which entry is wrong and why.
    public init(parsing text: String) throws(GateError) {
        let flag = "runtime-config"
        var entries: [Entry] = []
        var seen: Set<APISelector> = []
        for entry in FlagSyntax.entries(try FlagSyntax.body(of: text, flag: flag)) {
            let pair = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(pair[0].trimmingWhitespace())
            let value = pair.count == 2 ? String(pair[1].trimmingWhitespace()) : ""
            let selector: APISelector
            do throws(GateError) {
                selector = try APISelector(parsing: key)
            } catch {
                throw FlagSyntax.malformed(flag, String(entry), "\"\(key)\" is not api/all, api/<stage>, group/version or group/version/resource")
            }
            let enabled: Bool
            if value.isEmpty {
                enabled = true
            } else if let parsed = FlagSyntax.parseBool(value) {
                enabled = parsed
            } else {
                throw FlagSyntax.malformed(flag, String(entry), "\"\(value)\" is not true or false")
            }
            guard seen.insert(selector).inserted else {
                throw FlagSyntax.malformed(flag, String(entry), "\(selector) is given more than once")
            }
            entries.append(Entry(selector: selector, enabled: enabled))
        }
        self.init(entries: entries)
    }

    /// One `setAPI` change per entry, at `scope`.
    public func changes(at scope: Scope) -> [Change] {
        self.entries.map { .setAPI($0.selector, scope: scope, enabled: $0.enabled) }
    }
}

extension RuntimeConfigFlag: CustomStringConvertible {
    /// The flag's value in canonical form: `api/alpha=true,batch/v1beta1=false`.
    public var description: String {
        self.entries.map { "\($0.selector)=\($0.enabled)" }.joined(separator: ",")
    }
}

extension ChangeBatch {
    /// One batch from Kubernetes-style flags for one scope (usually a component).
    /// - Throws: `invalidArgument` when a flag is malformed or both are empty.
    public static func fromFlags(
        featureGates: String? = nil,
        runtimeConfig: String? = nil,
        scope: Scope,
        actor: String,
        reason: String = "",
        expectedRevision: Revision? = nil
    ) throws(GateError) -> ChangeBatch {
        var changes: [Change] = []
        if let featureGates {
            changes += try FeatureGatesFlag(parsing: featureGates).changes(at: scope)
        }
        if let runtimeConfig {
            changes += try RuntimeConfigFlag(parsing: runtimeConfig).changes(at: scope)
        }
        guard !changes.isEmpty else {
            throw GateError("no changes given: pass --feature-gates and/or --runtime-config entries", reason: .emptyBatch)
        }
        return ChangeBatch(changes: changes, expectedRevision: expectedRevision, reason: reason, actor: actor)
    }
}
