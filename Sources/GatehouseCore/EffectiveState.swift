/// The resolved state of one instance (or one scope): what a subscriber is pushed.
public struct EffectiveState: Hashable, Sendable {
    /// The state revision it was computed from.
    public var revision: Revision
    /// The instance (or scope) it was resolved for.
    public var scope: Scope
    /// Every feature that applies to the component, by name.
    public var features: [String: ResolvedFeature]
    /// Every API the component serves, by reference.
    public var apis: [APIRef: ResolvedAPI]

    public init(revision: Revision, scope: Scope, features: [String: ResolvedFeature], apis: [APIRef: ResolvedAPI]) {
        self.revision = revision
        self.scope = scope
        self.features = features
        self.apis = apis
    }

    /// Whether this differs from `other` in anything a component acts on (values and parameters, not reasons or revision).
    public func differsInValues(from other: EffectiveState) -> Bool {
        guard self.features.count == other.features.count, self.apis.count == other.apis.count else { return true }
        for (name, feature) in self.features {
            guard let theirs = other.features[name], theirs.enabled == feature.enabled, theirs.parameters == feature.parameters else {
                return true
            }
        }
        for (ref, api) in self.apis where other.apis[ref]?.enabled != api.enabled {
            return true
        }
        return false
    }
}

/// One feature as resolved for an instance, with why.
public struct ResolvedFeature: Hashable, Sendable {
    public var name: String
    public var enabled: Bool
    /// The rule that decided `enabled`.
    public var reason: Reason
    /// Every declared parameter's value, defaults included.
    public var parameters: [String: ParameterValue]
    /// The rule that decided each parameter (`.override` or `.defaultValue`).
    public var parameterReasons: [String: Reason]

    public init(name: String, enabled: Bool, reason: Reason, parameters: [String: ParameterValue] = [:], parameterReasons: [String: Reason] = [:]) {
        self.name = name
        self.enabled = enabled
        self.reason = reason
        self.parameters = parameters
        self.parameterReasons = parameterReasons
    }
}

/// One API as resolved for an instance, with why.
public struct ResolvedAPI: Hashable, Sendable {
    public var ref: APIRef
    public var enabled: Bool
    public var reason: Reason

    public init(ref: APIRef, enabled: Bool, reason: Reason) {
        self.ref = ref
        self.enabled = enabled
        self.reason = reason
    }
}
