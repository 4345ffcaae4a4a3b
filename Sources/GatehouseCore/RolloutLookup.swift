/// The seam for staged rollouts (canary): what a rollout assigns to one instance.
///
/// Rollouts are not implemented yet; the resolver already consults an
/// optional lookup at their precedence level (below global overrides, above
/// the default) so adding them changes no rule. An implementation must be a
/// pure function of its inputs (sticky, deterministic assignment).
public protocol RolloutLookup: Sendable {
    /// The assignment of `feature` for `instance`, or nil when no rollout covers it.
    func assignment(feature: String, instance: InstanceRef) -> RolloutAssignment?
}

/// A rollout's decision for one feature on one instance.
public struct RolloutAssignment: Hashable, Sendable {
    /// The rollout's name, shown in explanations.
    public var rollout: String
    public var enabled: Bool

    public init(rollout: String, enabled: Bool) {
        self.rollout = rollout
        self.enabled = enabled
    }
}
