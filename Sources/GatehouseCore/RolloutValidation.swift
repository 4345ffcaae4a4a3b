/// The rules a rollout's spec must follow (DESIGN rule 3, INVALID_ROLLOUT),
/// checked by ``BatchApplier`` on every start and public so that the server
/// can refuse a bad spec before it takes the commit path.
extension Rollout {
    /// The longest rollout name, in octets: it is a store key and travels in messages.
    public static let maximumNameLength = 63
    /// The longest bake of one step: 7 days.
    public static let maximumBake: Int64 = 7 * 24 * 3_600_000
    /// The longest disconnect grace: 1 day.
    public static let maximumDisconnectGrace: Int64 = 24 * 3_600_000

    /// Refuses a spec that breaks a rule, naming the field and what to send instead.
    public func validateSpec() throws(GateError) {
        func invalid(_ field: String, _ message: String) -> GateError {
            GateError("rollout \(self.name.isEmpty ? "(unnamed)" : self.name): \(message)", reason: .invalidRollout, metadata: ["rollout": self.name, "field": field])
        }
        guard Names.isValidComponentOrInstance(self.name), self.name.utf8.count <= Self.maximumNameLength else {
            throw invalid("name", "\"\(ControlCharacters.escaped(String(self.name.prefix(80))))\" is not a valid rollout name: use e.g. r7 or graceful-shutdown-kubelet (at most \(Self.maximumNameLength) octets, \(Names.componentOrInstanceRule))")
        }
        guard Names.isValidComponentOrInstance(self.component) else {
            throw invalid("component", "\"\(ControlCharacters.escaped(self.component))\" is not a valid component name (\(Names.componentOrInstanceRule))")
        }
        if case .api = self.target, !self.parameters.isEmpty {
            throw invalid("params", "an API rollout takes no parameters; remove them")
        }
        guard (1...Self.maximumSteps).contains(self.steps.count) else {
            throw invalid("steps", "it has \(self.steps.count) steps; give 1 to \(Self.maximumSteps), e.g. 10%, 50%, 100%")
        }
        var lastPercent = 0.0
        var lastCount = 0
        for (index, step) in self.steps.enumerated() {
            let field = "steps[\(index)]"
            switch step.size {
            case .percent(let percent):
                guard percent > 0, percent <= 100, percent.isFinite else {
                    throw invalid(field, "step \(index + 1) is \(percent)%; a percent must be above 0 and at most 100")
                }
                guard percent >= lastPercent else {
                    throw invalid(field, "step \(index + 1) (\(step.size)) is smaller than an earlier step (\(lastPercent)%); steps never shrink")
                }
                lastPercent = percent
            case .instances(let count):
                guard count >= 1 else {
                    throw invalid(field, "step \(index + 1) has \(count) instances; give at least 1")
                }
                guard count >= lastCount else {
                    throw invalid(field, "step \(index + 1) (\(step.size)) is smaller than an earlier step (\(lastCount) instances); steps never shrink")
                }
                lastCount = count
            }
            guard (0...Self.maximumBake).contains(step.bake) else {
                throw invalid(field, "step \(index + 1) bakes \(step.bake) ms; give 0 to 7 days")
            }
            guard step.maxUnhealthy >= 0 else {
                throw invalid(field, "step \(index + 1) tolerates \(step.maxUnhealthy) unhealthy canaries; give 0 or more")
            }
        }
        guard (0...Self.maximumDisconnectGrace).contains(self.disconnectGrace) else {
            throw invalid("disconnect_grace_ms", "a disconnect grace of \(self.disconnectGrace) ms; give 0 to 1 day")
        }
        for (key, value) in self.labels where key.isEmpty || ControlCharacters.occur(in: key) || ControlCharacters.occur(in: value) {
            throw invalid("labels", "label \"\(ControlCharacters.escaped(key))\" needs a non-empty key and no control characters")
        }
    }

    /// Whether `other` is this rollout at another point of its life: same name and
    /// everything asked for at the start (what may not change after it).
    public func isSameRollout(as other: Rollout) -> Bool {
        self.name == other.name && self.target == other.target && self.enabled == other.enabled
            && self.parameters == other.parameters && self.component == other.component && self.labels == other.labels
            && self.minimumVersion == other.minimumVersion && self.steps == other.steps
            && self.disconnectGrace == other.disconnectGrace && self.actor == other.actor && self.createdAt == other.createdAt
    }
}
