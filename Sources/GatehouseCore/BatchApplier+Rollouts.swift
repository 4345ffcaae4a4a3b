/// The rollout rules of ``BatchApplier`` (DESIGN rule 3 and the legality of
/// rule 4's transitions): starts, masks, transitions and the bound on finished rollouts.
extension Work {
    /// A put of an existing rollout must be one of its transitions (``RolloutMachine``):
    /// running → running (a later step), paused, completed, rolled back, aborted;
    /// paused → running, completed, aborted; completed → aborted; nothing after
    /// rolled back or aborted. While in effect its step and threshold never go back
    /// (membership is sticky: a canary stays one).
    static func checkTransition(from stored: Rollout, to next: Rollout) throws(GateError) {
        if next.writesNothing(over: stored) { return }
        let legal: Bool
        switch (stored.phase, next.phase) {
        case (.running, .running), (.running, .paused), (.running, .completed), (.running, .rolledBack), (.running, .aborted),
            (.paused, .running), (.paused, .completed), (.paused, .aborted),
            (.completed, .aborted):
            legal = true
        case (.running, _), (.paused, _), (.completed, _), (.rolledBack, _), (.aborted, _):
            legal = false
        }
        guard legal else {
            throw RolloutMachine.illegal("make", stored, allowed: "\(stored.phase.rawValue) → \(next.phase.rawValue) is not a transition of a rollout")
        }
        guard next.steps.indices.contains(next.step), (0...1).contains(next.threshold) else {
            throw RolloutMachine.illegal("write", stored, allowed: "step \(next.step + 1) of \(next.steps.count) at threshold \(next.threshold) is outside the rollout")
        }
        if next.isInEffect, next.threshold < stored.threshold || next.step < stored.step {
            throw RolloutMachine.illegal(
                "narrow",
                stored,
                allowed: "step \(stored.step + 1) → \(next.step + 1), threshold \(stored.threshold) → \(next.threshold) would take canaries out while it is in effect (abort it instead)"
            )
        }
    }

    /// The start rules for every rollout this batch creates.
    func checkStartedRollouts() throws(GateError) {
        for name in self.startedRollouts {
            guard let rollout = self.next.rollouts[name] else { continue }
            try self.checkTarget(of: rollout)
            try self.checkConflict(of: rollout)
            if let (scope, what) = self.maskingOverride(of: rollout) {
                throw GateError(
                    "cannot start rollout \(rollout.name): the \(scope) override of \(what) decides \(rollout.target.entryName) for \(scope == .global ? "every instance" : "those instances"), so the rollout could decide nothing there; clear that override first (Set with remove for \(what) at \(scope))",
                    reason: .rolloutMasked,
                    metadata: ["rollout": rollout.name, "scope": scope.key, "target": rollout.target.entryName]
                )
            }
        }
    }

    /// The target exists, applies to the component, takes the parameters given, and is not locked.
    private func checkTarget(of rollout: Rollout) throws(GateError) {
        let scope = Scope.component(rollout.component)
        switch rollout.target {
        case .feature(let name):
            guard let definition = self.next.feature(name) else {
                throw GateError(
                    "cannot start rollout \(rollout.name): unknown feature \(name): no feature of that name is defined (names are case-sensitive)",
                    reason: .unknownFeature,
                    metadata: ["feature": name]
                )
            }
            guard definition.applies(to: rollout.component) else {
                throw GateError(
                    "cannot start rollout \(rollout.name): feature \(name) does not apply to \(rollout.component) (it applies to \(definition.components.joined(separator: ", ")))",
                    reason: .notApplicable,
                    metadata: ["feature": name, "scope": scope.key, "component": rollout.component]
                )
            }
            if definition.lockToDefault {
                throw GateError(
                    "cannot start rollout \(rollout.name): \(name) is locked to \(definition.defaultEnabled ? "enabled" : "disabled") (\(definition.stage)); no rollout can change it",
                    reason: .lockedGate,
                    metadata: ["feature": name, "scope": scope.key]
                )
            }
            for (parameter, value) in rollout.parameters.sorted(by: { $0.key < $1.key }) {
                guard let spec = definition.parameter(named: parameter) else {
                    let known = definition.parameters.isEmpty ? "it has no parameters" : "it has " + definition.parameters.map(\.name).joined(separator: ", ")
                    throw GateError(
                        "cannot start rollout \(rollout.name): feature \(name) has no parameter \(parameter) (\(known))",
                        reason: .unknownParameter,
                        metadata: ["feature": name, "scope": scope.key, "parameter": parameter]
                    )
                }
                try spec.check(value, feature: name)
            }
        case .api(let ref):
            let definitions = self.next.definitions(coveredBy: ref)
            guard !definitions.isEmpty else {
                throw GateError(
                    "cannot start rollout \(rollout.name): unknown API \(ref): no defined API matches it (check the group, version and resource names)",
                    reason: .unknownAPI,
                    metadata: ["api": ref.description, "scope": scope.key]
                )
            }
            guard definitions.contains(where: { $0.applies(to: rollout.component) }) else {
                throw GateError(
                    "cannot start rollout \(rollout.name): \(rollout.component) does not serve API \(ref)",
                    reason: .notApplicable,
                    metadata: ["scope": scope.key, "component": rollout.component]
                )
            }
        }
    }

    /// No other rollout of the same target is in effect on the component.
    private func checkConflict(of rollout: Rollout) throws(GateError) {
        for other in self.next.rollouts.values where other.name != rollout.name && other.isInEffect
            && other.target == rollout.target && other.component == rollout.component
        {
            let advice: String
            switch other.phase {
            case .completed:
                let verb = other.enabled ? "enable" : "disable"
                let flag: String
                switch other.target {
                case .feature(let name): flag = name
                case .api(let ref): flag = "--api \(ref)"
                }
                advice = "it completed: make it permanent with gatectl \(verb) \(flag) --component \(other.component), then abort it (gatectl rollout abort \(other.name))"
            case .running, .paused, .rolledBack, .aborted:
                advice = "it is \(other.phase.rawValue): let it finish, or abort it (gatectl rollout abort \(other.name))"
            }
            throw GateError(
                "cannot start rollout \(rollout.name): rollout \(other.name) of \(rollout.target) on \(rollout.component) is in effect; \(advice)",
                reason: .rolloutConflict,
                metadata: ["rollout": rollout.name, "component": rollout.component, "existing": other.name]
            )
        }
    }

    /// An override that decides the rollout's target somewhere its selection reaches:
    /// at global scope, at its component, or at one of its instances. Its scope and what it sets.
    func maskingOverride(of rollout: Rollout) -> (Scope, String)? {
        func reaches(_ scope: Scope) -> Bool {
            switch scope {
            case .global: true
            case .component(let name): name == rollout.component
            case .instance(let component, _): component == rollout.component
            }
        }
        var found: [(Scope, String)] = []
        switch rollout.target {
        case .feature(let name):
            for (key, override) in self.next.featureOverrides where key.feature == name && override.enabled != nil && reaches(key.scope) {
                found.append((key.scope, name))
            }
        case .api(let ref):
            let definitions = self.next.definitions(coveredBy: ref)
            for (key, _) in self.next.apiOverrides where reaches(key.scope) && definitions.contains(where: key.selector.matches) {
                found.append((key.scope, key.selector.description))
            }
        }
        return found.min { ($0.0.rank, $0.0.key, $0.1) < ($1.0.rank, $1.0.key, $1.1) }
    }

    /// Overrides this batch writes must not mask a running or paused rollout of their target.
    func checkMaskedRollouts() throws(GateError) {
        // Most batches meet no rollout at all: then there is nothing to mask (and no sort of a large batch's keys).
        guard !self.next.rolloutIndex.isEmpty else { return }
        let overrides = self.touched.filter {
            switch $0 {
            case .featureOverride, .apiOverride: true
            case .feature, .api, .componentBuild, .rollout: false
            }
        }
        for key in overrides.sorted() {
            let target: (scope: Scope, matches: (Rollout) -> Bool, what: String)
            switch key {
            case .featureOverride(let overrideKey):
                guard self.next.featureOverrides[overrideKey]?.enabled != nil else { continue }
                target = (overrideKey.scope, { $0.target == .feature(overrideKey.feature) }, overrideKey.feature)
            case .apiOverride(let overrideKey):
                guard self.next.apiOverrides[overrideKey] != nil else { continue }
                let state = self.next
                target = (overrideKey.scope, { rollout in
                    guard case .api(let ref) = rollout.target else { return false }
                    return state.definitions(coveredBy: ref).contains(where: overrideKey.selector.matches)
                }, overrideKey.selector.description)
            case .feature, .api, .componentBuild, .rollout:
                continue
            }
            let components: [String]
            switch target.scope {
            case .global: components = self.next.componentsWithRolloutsInEffect
            case .component(let name), .instance(let name, _): components = [name]
            }
            for component in components {
                for rollout in self.next.rolloutsInEffect(on: component) where rollout.isActive && target.matches(rollout) {
                    throw GateError(
                        "cannot set \(target.what) at \(target.scope): rollout \(rollout.name) of \(rollout.target) on \(rollout.component) is \(rollout.phase.rawValue), and this override would decide in its place; pause it (gatectl rollout pause \(rollout.name)) or abort it first",
                        reason: .rolloutMasked,
                        metadata: ["rollout": rollout.name, "scope": target.scope.key, "target": rollout.target.entryName]
                    )
                }
            }
        }
    }

    /// Deletes the oldest finished (rolled back, aborted) rollouts beyond the bound;
    /// only batches that put a rollout can finish one, so only they pay the scan.
    mutating func pruneFinishedRollouts() {
        guard self.putRollout else { return }
        let finished = self.next.rollouts.values.filter { !$0.isInEffect }
        let excess = finished.count - BatchApplier.maximumFinishedRollouts
        guard excess > 0 else { return }
        for rollout in finished.sorted(by: { ($0.revision, $0.name) < ($1.revision, $1.name) }).prefix(excess) {
            self.next.setRollout(nil, named: rollout.name)
            self.touched.insert(.rollout(rollout.name))
        }
    }
}

extension Rollout {
    /// Whether putting `self` over `stored` changes nothing: the two differ at
    /// most in the revisions the applier stamps, so the put commits no revision.
    func writesNothing(over stored: Rollout) -> Bool {
        var same = self
        same.revision = stored.revision
        same.stepRevision = stored.stepRevision
        return same == stored
    }
}

extension GateState {
    /// The API definitions a rollout of `ref` decides: `ref` itself, and for a group/version its resources.
    func definitions(coveredBy ref: APIRef) -> [APIDefinition] {
        if ref.resource != nil {
            return self.apis[ref].map { [$0.value] } ?? []
        }
        return self.apis.values.map(\.value).filter { $0.ref.groupVersion == ref.groupVersion }
    }
}
