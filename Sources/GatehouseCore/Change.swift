/// One requested change in a `ChangeBatch`.
///
/// Override changes are what operators send (`--feature-gates`,
/// `--runtime-config`, `gatectl set`); definition changes are admin-only
/// (`requiresAdmin`), so the server can authorise a batch by looking at it.
public enum Change: Hashable, Sendable {
    /// Sets the override of `feature` at `scope`. `enabled: nil` keeps whatever the override
    /// already says (or leaves the decision to wider scopes); `parameters` are merged into it.
    case setFeature(String, scope: Scope, enabled: Bool?, parameters: [String: ParameterValue] = [:])
    /// Removes the override of `feature` at `scope`, if any.
    case clearFeature(String, scope: Scope)
    /// Sets the override for the APIs `selector` covers at `scope`.
    case setAPI(APISelector, scope: Scope, enabled: Bool)
    /// Removes the override for `selector` at `scope`, if any.
    case clearAPI(APISelector, scope: Scope)
    /// Creates or replaces a feature definition.
    case defineFeature(FeatureDefinition)
    /// Creates or replaces an API definition.
    case defineAPI(APIDefinition)
    /// Deletes a feature definition and every override set on it.
    case removeFeature(String)
    /// Deletes an API definition, and the group/version or resource overrides left selecting nothing.
    case removeAPI(APIRef)
    /// Records what a component build knows (its instances register it); no effect on resolution.
    case recordBuild(ComponentBuild)
    /// Creates or replaces the rollout of that name: a start, a step, a pause, an end. The applier
    /// checks the start rules and that the transition is legal, and stamps `stepRevision`.
    case putRollout(Rollout)

    /// Whether only an admin may make this change (it edits the catalog).
    public var requiresAdmin: Bool {
        switch self {
        case .setFeature, .clearFeature, .setAPI, .clearAPI, .recordBuild, .putRollout: false
        case .defineFeature, .defineAPI, .removeFeature, .removeAPI: true
        }
    }
}

extension Change: CustomStringConvertible {
    /// One line for logs and error messages, e.g. `set Foo=true at component kubelet`.
    public var description: String {
        switch self {
        case .setFeature(let name, let scope, let enabled, let parameters):
            let value = enabled.map { "=\($0)" } ?? ""
            let params = parameters.isEmpty
                ? ""
                : " with " + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            return "set \(name)\(value)\(params) at \(scope)"
        case .clearFeature(let name, let scope):
            return "clear \(name) at \(scope)"
        case .setAPI(let selector, let scope, let enabled):
            return "set \(selector)=\(enabled) at \(scope)"
        case .clearAPI(let selector, let scope):
            return "clear \(selector) at \(scope)"
        case .defineFeature(let definition):
            return "define feature \(definition.name)"
        case .defineAPI(let definition):
            return "define API \(definition.ref)"
        case .removeFeature(let name):
            return "remove feature \(name)"
        case .removeAPI(let ref):
            return "remove API \(ref)"
        case .recordBuild(let build):
            return "record build \(build.key) (\(build.features.count) features, \(build.apis.count) APIs)"
        case .putRollout(let rollout):
            return "put rollout \(rollout.name) (\(rollout.phase.rawValue), step \(rollout.step + 1)/\(rollout.steps.count))"
        }
    }
}
