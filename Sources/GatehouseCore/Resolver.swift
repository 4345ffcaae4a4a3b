/// Computes the effective state of an instance (or a scope) from a `GateState`.
///
/// Features, highest precedence first: locked → default; instance override >
/// component override > global override > rollout > default. A
/// feature decided on is then turned off if this replica is older than its
/// minimum version (`.versionTooOld`) or if a feature it needs resolves off
/// (`.dependencyDisabled`, transitively; a cycle counts as off and never
/// hangs). Locked features keep their default even then; the batch checks
/// refuse any change that would leave a locked-on feature without its
/// dependencies. Parameters are resolved one by one, narrowest override first.
///
/// APIs: in the narrowest scope that has any matching override, the most
/// specific selector wins (resource > group/version > `api/<stage>` >
/// `api/all`); else a rollout of the API (or of its group/version) the
/// replica is a canary of; else the API's explicit default, else its stage default.
///
/// Rollouts decide only for a replica resolved with the ``RolloutCohorts``
/// it belongs to (``GateState/cohorts(of:labels:)``): canaries get the
/// rollout's value and its parameters, each parameter still below any
/// override that sets it.
///
/// Construction precomputes the sorted catalog, so build one resolver per
/// state snapshot and reuse it for every instance: each resolution is then
/// linear in the catalog, with a constant number of dictionary lookups per
/// entry, whatever the number of overrides.
public struct Resolver: Sendable {
    public let state: GateState
    let sortedFeatures: [FeatureDefinition]
    let sortedAPIs: [(definition: APIDefinition, candidates: [APISelector])]

    public init(state: GateState) {
        self.state = state
        self.sortedFeatures = state.features.values.map(\.value).sorted { $0.name < $1.name }
        self.sortedAPIs = state.apis.values.map(\.value).sorted { $0.ref < $1.ref }.map { ($0, APISelector.candidates(for: $0)) }
    }

    /// The effective state of one replica: every feature that applies to its component and every API it serves.
    /// - Parameter cohorts: the rollouts it is a canary of; none by default (rollouts then decide nothing).
    public func resolve(_ instance: InstanceRef, cohorts: RolloutCohorts = .none) -> EffectiveState {
        self.effectiveState(at: ResolutionPoint(instance: instance, cohorts: cohorts))
    }

    /// The effective state at a scope: what `gatectl explain` shows for a component or globally.
    ///
    /// `.global` lists every feature and API and consults global overrides only;
    /// `.component` lists those that apply to it and adds its overrides; neither
    /// consults rollouts or versions. `.instance` resolves as that replica with an
    /// unknown version and no cohorts (the skew rule and rollouts do not apply:
    /// explaining a live instance goes through ``resolve(_:cohorts:)``).
    public func resolve(scope: Scope) -> EffectiveState {
        self.effectiveState(at: ResolutionPoint(scope: scope))
    }

    /// One feature for one replica, whether or not it applies to the component; nil when not defined.
    public func resolveFeature(_ name: String, for instance: InstanceRef, cohorts: RolloutCohorts = .none) -> ResolvedFeature? {
        guard let definition = self.state.feature(name) else { return nil }
        var memo = FeatureMemo()
        let point = ResolutionPoint(instance: instance, cohorts: cohorts)
        let outcome = self.outcome(of: name, at: point, memo: &memo)
        return self.resolvedFeature(definition, outcome: outcome, at: point)
    }

    // MARK: - Internals shared with BatchApplier

    func effectiveState(at point: ResolutionPoint) -> EffectiveState {
        var memo = FeatureMemo()
        var features: [String: ResolvedFeature] = [:]
        features.reserveCapacity(self.sortedFeatures.count)
        for definition in self.sortedFeatures where point.component.map(definition.applies(to:)) ?? true {
            let outcome = self.outcome(of: definition.name, at: point, memo: &memo)
            features[definition.name] = self.resolvedFeature(definition, outcome: outcome, at: point)
        }
        var apis: [APIRef: ResolvedAPI] = [:]
        apis.reserveCapacity(self.sortedAPIs.count)
        for (definition, candidates) in self.sortedAPIs where point.component.map(definition.applies(to:)) ?? true {
            apis[definition.ref] = self.resolveAPI(definition, candidates: candidates, at: point)
        }
        return EffectiveState(revision: self.state.revision, scope: point.scope, features: features, apis: apis)
    }

    /// Features that something turned on but that resolve off (or stay on only by lock) for want of a
    /// dependency or a new enough version: what a batch must not introduce. A feature off because a
    /// replica is too old for something it needs is not one (the replica lacks the code).
    /// Only features that apply to the point's component count.
    func violations(at point: ResolutionPoint, among names: [String]? = nil) -> [Violation] {
        var memo = FeatureMemo()
        var result: [Violation] = []
        let definitions = names.map { $0.compactMap { self.state.feature($0) } } ?? self.sortedFeatures
        for definition in definitions where point.component.map(definition.applies(to:)) ?? true {
            if let violation = self.outcome(of: definition.name, at: point, memo: &memo).violation {
                result.append(violation)
            }
        }
        return result
    }

    /// A resolver for checking named features only (`violations(at:among:)`):
    /// it skips the sorted catalog views that full resolution needs, which a
    /// toggle against a large catalog would otherwise pay for twice.
    init(checking state: GateState) {
        self.state = state
        self.sortedFeatures = []
        self.sortedAPIs = []
    }

    struct FeatureOutcome {
        var enabled: Bool
        var reason: Reason
        var violation: Violation?
        /// Off only because this replica (or one of the features it needs) is too old:
        /// the replica lacks the code, which is no one's decision, so dependents turn off without a violation.
        var versionLimited = false
    }

    typealias FeatureMemo = [String: FeatureMemoEntry]

    enum FeatureMemoEntry {
        case inProgress
        case done(FeatureOutcome)
    }

    /// Resolves `name` (and, on the way, what it needs) at `point`; unknown names and cycles resolve off.
    ///
    /// Iterative, with its own stack: a chain of dependencies as long as a
    /// stored catalog holds (validation bounds new ones, not ones stored
    /// before the bound) must never overflow the thread's stack.
    func outcome(of name: String, at point: ResolutionPoint, memo: inout FeatureMemo) -> FeatureOutcome {
        /// A feature decided on whose dependencies are being resolved.
        struct Frame {
            let definition: FeatureDefinition
            let decided: FeatureOutcome
            var index = 0
        }
        /// A dependency's outcome if known without resolving it, or the frame to push for it.
        enum Start {
            case known(FeatureOutcome)
            case pending(Frame)
        }
        func start(_ name: String) -> Start {
            switch memo[name] {
            case .done(let outcome)?:
                return .known(outcome)
            case .inProgress?:
                // A cycle: counts as off, never hangs.
                return .known(FeatureOutcome(enabled: false, reason: .dependencyDisabled(name), violation: nil))
            case nil:
                break
            }
            guard let definition = self.state.feature(name) else {
                return .known(FeatureOutcome(enabled: false, reason: .defaultValue, violation: nil))
            }
            let decided = self.decide(definition, at: point)
            var outcome = decided
            if decided.enabled, !definition.lockToDefault, let component = point.component, let actual = point.version,
                let minimum = definition.minimumVersions[component], actual < minimum
            {
                let reason = Reason.versionTooOld(component: component, minimum: minimum, actual: actual)
                outcome = FeatureOutcome(enabled: false, reason: reason, violation: Violation(feature: name, reason: reason), versionLimited: true)
            }
            guard outcome.enabled, !definition.dependencies.isEmpty else {
                memo[name] = .done(outcome)
                return .known(outcome)
            }
            memo[name] = .inProgress
            return .pending(Frame(definition: definition, decided: outcome))
        }

        var stack: [Frame] = []
        switch start(name) {
        case .known(let outcome): return outcome
        case .pending(let frame): stack.append(frame)
        }
        while let top = stack.last {
            let definition = top.definition
            var settled: FeatureOutcome?
            if top.index == definition.dependencies.count {
                settled = top.decided
            } else {
                let dependency = definition.dependencies[top.index]
                switch start(dependency) {
                case .pending(let frame):
                    // Resolve the dependency first; this frame looks at it again when it is done.
                    stack.append(frame)
                    continue
                case .known(let needed):
                    stack[stack.count - 1].index += 1
                    if !needed.enabled {
                        let reason = Reason.dependencyDisabled(dependency)
                        let violation = Violation(feature: definition.name, reason: reason)
                        if definition.lockToDefault {
                            settled = FeatureOutcome(enabled: true, reason: .locked, violation: violation)
                        } else if needed.versionLimited {
                            settled = FeatureOutcome(enabled: false, reason: reason, violation: nil, versionLimited: true)
                        } else {
                            settled = FeatureOutcome(enabled: false, reason: reason, violation: violation)
                        }
                    }
                }
            }
            guard let settled else { continue }
            memo[definition.name] = .done(settled)
            stack.removeLast()
        }
        guard case .done(let outcome)? = memo[name] else {
            preconditionFailure("feature \(name) left unresolved")
        }
        return outcome
    }

    /// The in-effect rollout of `target` on the point's component, when the point is one of its canaries.
    private func canaryRollout(of target: RolloutTarget, at point: ResolutionPoint) -> Rollout? {
        guard !point.cohorts.isEmpty, let component = point.component,
            let rollout = self.state.rolloutInEffect(of: target, on: component),
            point.cohorts.contains(rollout.name)
        else { return nil }
        return rollout
    }

    /// The value before dependency and version rules: lock, overrides narrowest first, rollout, default.
    private func decide(_ definition: FeatureDefinition, at point: ResolutionPoint) -> FeatureOutcome {
        if definition.lockToDefault {
            return FeatureOutcome(enabled: definition.defaultEnabled, reason: .locked)
        }
        for scope in point.scopes {
            if let override = self.state.featureOverrides[FeatureOverrideKey(feature: definition.name, scope: scope)],
                let enabled = override.enabled
            {
                return FeatureOutcome(enabled: enabled, reason: .override(scope, revision: override.stamp.revision))
            }
        }
        if let rollout = self.canaryRollout(of: .feature(definition.name), at: point) {
            return FeatureOutcome(enabled: rollout.enabled, reason: .rollout(RolloutDecision(rollout, instanceID: point.instance?.instanceID ?? "")))
        }
        return FeatureOutcome(enabled: definition.defaultEnabled, reason: .defaultValue)
    }

    private func resolvedFeature(_ definition: FeatureDefinition, outcome: FeatureOutcome, at point: ResolutionPoint) -> ResolvedFeature {
        var parameters: [String: ParameterValue] = [:]
        var reasons: [String: Reason] = [:]
        let overrides = point.scopes.compactMap { scope in
            self.state.featureOverrides[FeatureOverrideKey(feature: definition.name, scope: scope)]
        }
        let rollout = definition.parameters.isEmpty ? nil : self.canaryRollout(of: .feature(definition.name), at: point)
        for spec in definition.parameters {
            if let override = overrides.first(where: { $0.parameters[spec.name] != nil }), let value = override.parameters[spec.name] {
                parameters[spec.name] = value
                reasons[spec.name] = .override(override.scope, revision: override.stamp.revision)
            } else if let rollout, let value = rollout.parameters[spec.name] {
                parameters[spec.name] = value
                reasons[spec.name] = .rollout(RolloutDecision(rollout, instanceID: point.instance?.instanceID ?? ""))
            } else {
                parameters[spec.name] = spec.defaultValue
                reasons[spec.name] = .defaultValue
            }
        }
        return ResolvedFeature(
            name: definition.name,
            enabled: outcome.enabled,
            reason: outcome.reason,
            parameters: parameters,
            parameterReasons: reasons
        )
    }

    private func resolveAPI(_ definition: APIDefinition, candidates: [APISelector], at point: ResolutionPoint) -> ResolvedAPI {
        for scope in point.scopes {
            for selector in candidates {
                if let override = self.state.apiOverrides[APIOverrideKey(selector: selector, scope: scope)] {
                    return ResolvedAPI(
                        ref: definition.ref,
                        enabled: override.enabled,
                        reason: .apiSelector(scope, selector, revision: override.stamp.revision)
                    )
                }
            }
        }
        if let rollout = self.apiRollout(for: definition.ref, at: point) {
            return ResolvedAPI(ref: definition.ref, enabled: rollout.enabled, reason: .rollout(RolloutDecision(rollout, instanceID: point.instance?.instanceID ?? "")))
        }
        if let explicit = definition.defaultEnabled {
            return ResolvedAPI(ref: definition.ref, enabled: explicit, reason: .defaultValue)
        }
        return ResolvedAPI(ref: definition.ref, enabled: definition.effectiveDefault, reason: .stageDefault(definition.stage))
    }
}

extension Resolver {
    /// The rollout deciding API `ref` at the point: one of `ref` itself, else
    /// (for a resource) one of its group/version, the more specific first.
    fileprivate func apiRollout(for ref: APIRef, at point: ResolutionPoint) -> Rollout? {
        guard !point.cohorts.isEmpty else { return nil }
        if let rollout = self.canaryRollout(of: .api(ref), at: point) { return rollout }
        guard ref.resource != nil else { return nil }
        return self.canaryRollout(of: .api(APIRef(ref.groupVersion)), at: point)
    }
}

/// A feature that is on by decision but lacks a dependency or a new enough replica.
struct Violation: Hashable, Sendable {
    var feature: String
    /// `.dependencyDisabled` or `.versionTooOld`.
    var reason: Reason
}

/// Where resolution happens: the scopes that apply (narrowest first) and, for a replica, which one.
struct ResolutionPoint: Hashable, Sendable {
    var scope: Scope
    var scopes: [Scope]
    var instance: InstanceRef?
    /// The rollouts resolved as deciding here (only with an instance, or at a component scope when the
    /// applier checks a rollout as if it covered its whole selection).
    var cohorts: RolloutCohorts = .none

    var component: String? { self.scope.component }
    var version: Version? { self.instance?.version }

    init(instance: InstanceRef, cohorts: RolloutCohorts = .none) {
        self.scope = instance.scope
        self.scopes = [instance.scope, .component(instance.component), .global]
        self.instance = instance
        self.cohorts = cohorts
    }

    init(scope: Scope) {
        self.scope = scope
        switch scope {
        case .global:
            self.scopes = [.global]
            self.instance = nil
        case .component:
            self.scopes = [scope, .global]
            self.instance = nil
        case .instance(let component, let id):
            self.scopes = [scope, .component(component), .global]
            self.instance = InstanceRef(component: component, instanceID: id, version: nil)
        }
    }
}
