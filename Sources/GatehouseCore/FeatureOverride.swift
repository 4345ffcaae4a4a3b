/// Identifies a feature override: one per feature per scope.
public struct FeatureOverrideKey: Hashable, Sendable, Codable {
    public var feature: String
    public var scope: Scope

    public init(feature: String, scope: Scope) {
        self.feature = feature
        self.scope = scope
    }
}

/// A desired state of one feature at one scope.
///
/// `enabled` is optional because an override may only tune parameters and
/// leave the on/off decision to a wider scope or the default (as the wire's
/// `Override.enabled_present` allows). Each parameter is resolved on its
/// own, narrowest scope first.
public struct FeatureOverride: Hashable, Sendable, Codable {
    public var feature: String
    public var scope: Scope
    /// The desired value; nil leaves the decision to wider scopes.
    public var enabled: Bool?
    /// Parameter values set at this scope, by parameter name.
    public var parameters: [String: ParameterValue]
    public var stamp: ChangeStamp

    public init(feature: String, scope: Scope, enabled: Bool?, parameters: [String: ParameterValue] = [:], stamp: ChangeStamp) {
        self.feature = feature
        self.scope = scope
        self.enabled = enabled
        self.parameters = parameters
        self.stamp = stamp
    }

    public var key: FeatureOverrideKey { FeatureOverrideKey(feature: self.feature, scope: self.scope) }
}
