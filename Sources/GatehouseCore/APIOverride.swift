/// Identifies an API override: one per selector per scope.
public struct APIOverrideKey: Hashable, Sendable, Codable {
    public var selector: APISelector
    public var scope: Scope

    public init(selector: APISelector, scope: Scope) {
        self.selector = selector
        self.scope = scope
    }
}

/// A desired state for the APIs a selector covers, at one scope (one `--runtime-config` entry).
public struct APIOverride: Hashable, Sendable, Codable {
    public var selector: APISelector
    public var scope: Scope
    public var enabled: Bool
    public var stamp: ChangeStamp

    public init(selector: APISelector, scope: Scope, enabled: Bool, stamp: ChangeStamp) {
        self.selector = selector
        self.scope = scope
        self.enabled = enabled
        self.stamp = stamp
    }

    public var key: APIOverrideKey { APIOverrideKey(selector: self.selector, scope: self.scope) }
}
