/// Which rule decided a resolved value, so `gatectl explain` can say why.
public enum Reason: Hashable, Sendable {
    /// The feature is locked to its default; nothing else may decide.
    case locked
    /// A feature override (or a parameter set in one) at this scope.
    case override(Scope, revision: Revision)
    /// An API override: the most specific selector in the narrowest scope that had one.
    case apiSelector(Scope, APISelector, revision: Revision)
    /// A rollout this instance is a canary of, below global overrides and above the default.
    case rollout(RolloutDecision)
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
        case .rollout(let decision):
            decision.description
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

/// Which rollout decided, and where the instance stands in it: enough for
/// `gatectl explain` to say "rollout r7 step 2/4 (10%), bucket 0.031".
public struct RolloutDecision: Hashable, Sendable {
    public var name: String
    /// The rollout's current step, 0-based.
    public var step: Int
    /// How many steps it has.
    public var steps: Int
    /// The current step's size.
    public var size: RolloutStep.Size
    /// The instance's bucket in the rollout, in [0, 1): it is a canary because this is below the threshold.
    public var bucket: Double
    public var phase: RolloutPhase

    public init(name: String, step: Int, steps: Int, size: RolloutStep.Size, bucket: Double, phase: RolloutPhase) {
        self.name = name
        self.step = step
        self.steps = steps
        self.size = size
        self.bucket = bucket
        self.phase = phase
    }

    /// The decision `rollout` makes for `instanceID`.
    public init(_ rollout: Rollout, instanceID: String) {
        let step = min(max(rollout.step, 0), max(rollout.steps.count - 1, 0))
        self.init(
            name: rollout.name,
            step: step,
            steps: rollout.steps.count,
            size: rollout.steps.indices.contains(step) ? rollout.steps[step].size : .percent(100),
            bucket: rollout.bucket(of: instanceID),
            phase: rollout.phase
        )
    }
}

extension RolloutDecision: CustomStringConvertible {
    /// `rollout r7 step 2/4 (10%), bucket 0.031`; a paused one says so, a
    /// completed one reads `rollout r7 completed (step 4/4, 100%), bucket 0.712`.
    public var description: String {
        let bucket = Self.threeDecimals(self.bucket)
        switch self.phase {
        case .completed:
            return "rollout \(self.name) completed (step \(self.step + 1)/\(self.steps), \(self.size)), bucket \(bucket)"
        case .paused:
            return "rollout \(self.name) step \(self.step + 1)/\(self.steps) (\(self.size), paused), bucket \(bucket)"
        case .running, .rolledBack, .aborted:
            return "rollout \(self.name) step \(self.step + 1)/\(self.steps) (\(self.size)), bucket \(bucket)"
        }
    }

    /// `0.031`: Core has no Foundation, so no `String(format:)`.
    static func threeDecimals(_ value: Double) -> String {
        let thousandths = Int((min(max(value, 0), 1) * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
