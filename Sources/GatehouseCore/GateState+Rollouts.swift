/// Rollouts in the state: stored by name, indexed by (component, target) while in effect.
extension GateState {
    /// The rollout called `name`, whatever its phase.
    public func rollout(_ name: String) -> Rollout? {
        self.rollouts[name]
    }

    /// The rollout in effect (running, paused or completed) of `target` on `component`, if any.
    public func rolloutInEffect(of target: RolloutTarget, on component: String) -> Rollout? {
        self.rolloutIndex[component]?[target].flatMap { self.rollouts[$0] }
    }

    /// Every rollout in effect on `component`, by name.
    public func rolloutsInEffect(on component: String) -> [Rollout] {
        (self.rolloutIndex[component] ?? [:]).values.compactMap { self.rollouts[$0] }.sorted { $0.name < $1.name }
    }

    /// Whether any rollout is in effect on `component` (one lookup: most components have none).
    public func hasRolloutsInEffect(on component: String) -> Bool {
        self.rolloutIndex[component] != nil
    }

    /// Components with at least one rollout in effect, sorted.
    public var componentsWithRolloutsInEffect: [String] {
        self.rolloutIndex.keys.sorted()
    }
}

extension GateState {
    /// The rollout called `name`, or NOT_FOUND `ROLLOUT_NOT_FOUND` saying how to find the right name.
    public func requireRollout(_ name: String) throws(GateError) -> Rollout {
        guard let rollout = self.rollouts[name] else { throw GateError.rolloutNotFound(name) }
        return rollout
    }

    /// Whether `instance` (registered with `labels`) is in `rollout`'s selection and can be one
    /// of its canaries at some threshold (DESIGN rule 1, without the bucket): what a start or an
    /// instance-count step counts as "the selection", and what the driver observes.
    public func isEligible(_ instance: InstanceRef, labels: [String: String], for rollout: Rollout) -> Bool {
        rollout.selects(instance, labels: labels) && self.hasTheCode(for: rollout, on: instance)
    }
}

extension GateError {
    /// NOT_FOUND `ROLLOUT_NOT_FOUND` for `name`, saying how to find the right name.
    public static func rolloutNotFound(_ name: String) -> GateError {
        GateError(
            "no rollout is named \(ControlCharacters.escaped(name)); list them with gatectl rollout list",
            reason: .rolloutNotFound,
            metadata: ["rollout": name]
        )
    }
}
