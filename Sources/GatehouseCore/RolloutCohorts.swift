/// The rollouts one instance is a canary of, by name: what resolving it needs
/// besides the state, and what makes two instances of a component resolve alike.
///
/// Canaries are not stored (DESIGN rule 1): an instance is one when an
/// in-effect rollout's selection covers it and its bucket is below the
/// rollout's threshold, so the cohorts are computed from the state, the
/// instance and its registered labels (``GateState/cohorts(of:labels:)``).
/// Only names are held, not buckets: instances in the same cohorts of the
/// same (component, version) resolve to the same values, so the subscription
/// hub can group them by this value.
public struct RolloutCohorts: Hashable, Sendable {
    /// Sorted, without duplicates.
    public let names: [String]

    /// A canary of nothing: resolution ignores rollouts.
    public static let none = RolloutCohorts([])

    public init(_ names: some Sequence<String>) {
        self.names = Array(Set(names)).sorted()
    }

    public var isEmpty: Bool { self.names.isEmpty }

    public func contains(_ name: String) -> Bool {
        // A handful at most (one per target on the component): a scan beats hashing.
        self.names.contains(name)
    }
}

extension RolloutCohorts: CustomStringConvertible {
    /// `none` or `r7, r9`.
    public var description: String {
        self.names.isEmpty ? "none" : self.names.joined(separator: ", ")
    }
}

extension GateState {
    /// The rollouts `instance` is a canary of (DESIGN rule 1): each in-effect
    /// rollout on its component whose selection covers it (labels, the
    /// rollout's minimum version) and whose threshold is above its bucket
    /// (a completed rollout covers its whole selection). For a rollout that
    /// enables a feature, an instance below the feature's minimum version for
    /// the component (or with no version when there is one) is never a canary:
    /// it lacks the code, so it must neither get the value nor be judged on it.
    public func cohorts(of instance: InstanceRef, labels: [String: String]) -> RolloutCohorts {
        guard self.hasRolloutsInEffect(on: instance.component) else { return .none }
        let names = self.rolloutsInEffect(on: instance.component).filter { rollout in
            rollout.includes(instance, labels: labels) && self.hasTheCode(for: rollout, on: instance)
        }.map(\.name)
        return names.isEmpty ? .none : RolloutCohorts(names)
    }

    /// Whether `instance` is new enough for what `rollout` turns on.
    func hasTheCode(for rollout: Rollout, on instance: InstanceRef) -> Bool {
        guard rollout.enabled, case .feature(let name) = rollout.target,
            let minimum = self.feature(name)?.minimumVersions[instance.component]
        else { return true }
        guard let version = instance.version else { return false }
        return version >= minimum
    }
}
