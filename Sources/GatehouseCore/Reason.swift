/// Which rule decided a resolved value, so `gatectl explain` can say why.
public enum Reason: Hashable, Sendable {
    /// The feature is locked to its default; nothing else may decide.
    case locked
    /// A feature override (or a parameter set in one) at this scope.
    case override(Scope, revision: Revision)
    /// An API override: the most specific selector in the narrowest scope that had one.
    case apiSelector(Scope, APISelector, revision: Revision)
    /// A rollout assignment (canary), below global overrides and above the default.
    case rollout(String)
    /// The feature's (or parameter's) declared default, or an API's explicit default.
    case defaultValue
    /// An API's default for its stage (GA and deprecated on, beta and alpha off).
    case stageDefault(Stage)
    /// Something turned the feature on, but this feature it needs resolves off.
    case dependencyDisabled(String)
    /// Something turned the feature on, but this replica is older than the feature's minimum.
    case versionTooOld(component: String, minimum: Version, actual: Version)

    /// Whether an override (feature or API selector) decided the value.
    public var isOverride: Bool {
        switch self {
        case .override, .apiSelector: true
        case .locked, .rollout, .defaultValue, .stageDefault, .dependencyDisabled, .versionTooOld: false
        }
    }
}

extension Reason: CustomStringConvertible {
    /// One line for people, e.g. "component kubelet override at r1042".
    public var description: String {
        switch self {
        case .locked:
            "locked to its default"
        case .override(let scope, let revision):
            "\(scope) override at \(revision)"
        case .apiSelector(let scope, let selector, let revision):
            "\(scope) override \(selector) at \(revision)"
        case .rollout(let name):
            "rollout \(name)"
        case .defaultValue:
            "default"
        case .stageDefault(let stage):
            "default for a \(stage) API"
        case .dependencyDisabled(let name):
            "needs \(name), which is disabled"
        case .versionTooOld(let component, let minimum, let actual):
            "needs \(component) \(minimum) or newer, this replica runs \(actual)"
        }
    }
}
