import GatehouseCore

/// The overrides stored on a server, or wanted there: what `gatectl export` prints and
/// `gatectl apply -f` makes so (kubectl's declarative model, for gate overrides).
///
/// A value: one entry per override key (feature or API selector, at a scope), with
/// the override's desired value. Stamps (revision, actor, reason, time) are not
/// part of it: they say who wrote an override, not what it is, so an exported
/// manifest applied back changes nothing. Rollouts are not overrides and are
/// not in it.
public struct GateManifest: Hashable, Sendable {
    /// Feature overrides by feature and scope.
    public var features: [FeatureOverrideKey: FeatureSetting]
    /// API overrides by selector and scope.
    public var apis: [APIOverrideKey: Bool]

    public init(features: [FeatureOverrideKey: FeatureSetting] = [:], apis: [APIOverrideKey: Bool] = [:]) {
        self.features = features
        self.apis = apis
    }

    /// Whether it holds no override at all.
    public var isEmpty: Bool { self.features.isEmpty && self.apis.isEmpty }

    /// Every scope that has at least one override, globals first, then components and their instances by name.
    public var scopes: [Scope] {
        Set(self.features.keys.map(\.scope) + self.apis.keys.map(\.scope)).sorted(by: Scope.manifestOrder)
    }
}

/// What one feature override says: on, off or left to wider scopes, and parameter values.
public struct FeatureSetting: Hashable, Sendable {
    /// nil: the override only sets parameters and leaves on/off to wider scopes.
    public var enabled: Bool?
    /// Parameter values set at this scope, by name.
    public var parameters: [String: ParameterValue]

    public init(enabled: Bool?, parameters: [String: ParameterValue] = [:]) {
        self.enabled = enabled
        self.parameters = parameters
    }
}

extension Scope {
    /// The order a manifest lists scopes in: global, then by component, its own scope before its instances'.
    static func manifestOrder(_ lhs: Scope, _ rhs: Scope) -> Bool {
        func rank(_ scope: Scope) -> (String, Int, String) {
            switch scope {
            case .global: ("", 0, "")
            case .component(let name): (name, 1, "")
            case .instance(let component, let id): (component, 2, id)
            }
        }
        return rank(lhs) < rank(rhs)
    }
}
