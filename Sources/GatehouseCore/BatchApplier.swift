/// Validates a `ChangeBatch` against a `GateState` and produces the next state, or refuses it whole.
///
/// Pure: the time and the set of live replicas are passed in; the returned state is a new value and the input is never touched, so
/// a refused batch leaves nothing behind. Checks, in this order (the first
/// refusal is thrown):
///
/// 1. a non-empty batch with a reason free of control characters
///    (`INVALID_REASON`); `expectedRevision` still current (else `aborted`);
/// 2. well-formed scopes; names that exist after the batch (else `notFound`);
/// 3. a sound catalog when the batch edits it (else `invalidArgument`);
/// 4. every written override: the feature applies to the scope's component,
///    parameters are known and valid (`invalidArgument`), and a locked gate
///    is not set against its default (`failedPrecondition`, `LOCKED_GATE`);
/// 5. at the scope of every feature change — the scope itself, and every
///    live component and replica it covers — the batch leaves no feature on
///    by decision but off for want of a dependency (`UNMET_DEPENDENCY` when it
///    enables the feature, `DEPENDENTS_ENABLED` when it disables what another
///    needs) or, for a feature it enables, a live replica below the feature's minimum
///    version (`VERSION_SKEW`; a replica too old for a feature simply resolves it off).
///    Only problems the batch *introduces* count, so an unrelated change is
///    never blocked by an older one. Where a rollout is in effect on a
///    component, its points are also checked as if every replica were a
///    canary of every such rollout (a rollout is checked at 100% of its selection);
/// 6. rollouts (``Change/putRollout(_:)``): a new one must have a valid spec
///    (`INVALID_ROLLOUT`) and a free name (`ROLLOUT_EXISTS`: a put whose
///    fixed fields differ from the stored rollout of that name is a new
///    rollout), a defined target that applies to the component
///    (`UNKNOWN_FEATURE`/`UNKNOWN_API`, `NOT_APPLICABLE`, parameter checks), an
///    unlocked feature (`LOCKED_GATE`), no other in-effect rollout of the
///    target on the component (`ROLLOUT_CONFLICT`) and no override of the
///    target that would mask it (`ROLLOUT_MASKED`); a put of an existing one
///    must be a legal transition (`ROLLOUT_STATE`: see ``RolloutMachine``; the
///    threshold and step never go back while it is in effect). The applier
///    stamps `stepRevision` with the batch's revision whenever the step or
///    phase changes, and keeps at most ``BatchApplier/maximumFinishedRollouts``
///    rolled back or aborted rollouts (the oldest go first);
/// 7. no override that would mask a running or paused rollout of its
///    target (`ROLLOUT_MASKED`): pause or abort it first.
///
/// Every check looks at the state after the whole batch.
public struct BatchApplier: Sendable {
    /// Rolled back and aborted rollouts kept for `Rollouts/List` and `Get`; beyond
    /// this the oldest (by last write) are deleted in the batch that finishes
    /// one more. In-effect rollouts are never deleted (at most one per target
    /// and component exists anyway).
    public static let maximumFinishedRollouts = 256

    public init() {}

    /// Applies `batch` to `state` as the next revision, stamped with `time`.
    /// - Parameters:
    ///   - liveInstances: the replicas currently subscribed, with their versions: what the
    ///     dependency and skew checks look at besides the changed scopes themselves.
    /// - Returns: the new state (at `state.revision.next`) and what changed.
    /// - Throws: `GateError`; the state passed in is unchanged (it is a value).
    public func apply(
        _ batch: ChangeBatch,
        to state: GateState,
        at time: UnixMilliseconds,
        liveInstances: [InstanceRef]
    ) throws(GateError) -> AppliedBatch {
        try self.apply(batch, to: state, at: time, live: LiveReplicas(liveInstances))
    }

    /// As ``apply(_:to:at:liveInstances:)``, with the live replicas already indexed (the server keeps them so).
    public func apply(
        _ batch: ChangeBatch,
        to state: GateState,
        at time: UnixMilliseconds,
        live: LiveReplicas
    ) throws(GateError) -> AppliedBatch {
        guard !batch.changes.isEmpty else {
            throw GateError("the batch has no changes; send at least one", reason: .emptyBatch)
        }
        // The reason is stored and shown in histories and logs: one line of printable text.
        if ControlCharacters.occur(in: batch.reason) {
            throw GateError(
                "the reason \"\(ControlCharacters.escaped(String(batch.reason.prefix(80))))\" holds control characters (newlines, tabs, escapes, bidi overrides); give it as one line of printable text",
                reason: .invalidReason
            )
        }
        if let expected = batch.expectedRevision, expected != state.revision {
            throw GateError(
                "the state is at \(state.revision), not \(expected) as the request expected; read it again and retry",
                reason: .staleRevision,
                metadata: ["expected_revision": String(expected.rawValue), "current_revision": String(state.revision.rawValue)]
            )
        }

        var work = Work(state: state, stamp: ChangeStamp(revision: state.revision.next, actor: batch.actor, reason: batch.reason, time: time))
        for change in batch.changes {
            try work.apply(change)
        }
        try work.removeOrphanedAPIOverrides()
        try work.checkNames()
        if !batch.allowsUnknownComponents {
            try work.checkComponents(live: live)
        }
        if work.catalogChanged {
            try work.next.catalog.validate()
        }
        try work.checkFeatureOverrides()
        try work.checkAPIOverrides()
        try work.checkStartedRollouts()
        try work.checkMaskedRollouts()
        try self.checkDependenciesAndSkew(work, live: live)
        work.pruneFinishedRollouts()

        let changes = work.touched.sorted().compactMap { key -> ObjectChange? in
            let before = state.object(key)
            let after = work.next.object(key)
            return before == after ? nil : ObjectChange(key: key, before: before, after: after)
        }
        return AppliedBatch(state: work.next, summary: BatchSummary(revision: work.next.revision, changes: changes, unchanged: work.unchanged))
    }

    // MARK: - Dependencies and version skew

    private func checkDependenciesAndSkew(_ work: Work, live: LiveReplicas) throws(GateError) {
        // An override batch can only break the features it names and those that need them;
        // a catalog change can break anything.
        let affected = work.catalogChanged ? nil : work.affectedFeatures()
        if let affected, !affected.contains(where: { work.next.feature($0)?.hasResolutionRules ?? false }) {
            // Only a feature that needs another or a minimum version can be left in violation:
            // a toggle of a plain feature (most of them) skips resolving every replica it covers.
            return
        }
        var points: Set<ResolutionPoint> = []
        let scopes: [Scope] = work.catalogChanged ? [.global] : work.featureScopes
        // Only replicas the changed scopes cover can break; the rest need not even be listed.
        let covered = live.covered(by: scopes)
        let replicas = Self.representatives(of: covered, before: work.state, after: work.next)
        for scope in scopes {
            points.formUnion(Self.points(coveredBy: scope, liveInstances: replicas))
        }
        points.formUnion(Self.rolloutVariants(of: points, before: work.state, after: work.next))
        guard !points.isEmpty else { return }
        let before = affected == nil ? Resolver(state: work.state) : Resolver(checking: work.state)
        let after = affected == nil ? Resolver(state: work.next) : Resolver(checking: work.next)
        let ordered = points.sorted { ($0.scope.rank, $0.scope.key, $0.version?.description ?? "") < ($1.scope.rank, $1.scope.key, $1.version?.description ?? "") }
        for point in ordered {
            // The skew guard is about enabling: a version violation counts only for a feature this batch enables.
            let introduced = Set(after.violations(at: point, among: affected)).subtracting(before.violations(at: point, among: affected)).filter { violation in
                switch violation.reason {
                // A rollout's canaries are never below the feature's minimum: no skew to refuse for it.
                case .versionTooOld: work.enabledByBatch.contains(violation.feature)
                case .dependencyDisabled, .locked, .override, .apiSelector, .rollout, .defaultValue, .stageDefault: true
                }
            }
            guard !introduced.isEmpty else { continue }
            let chosen = introduced.min { work.preference($0) < work.preference($1) }!
            throw Self.refusal(chosen, at: point, work: work)
        }
    }

    /// One replica per class of replicas that resolve alike: same component and
    /// version, and no overrides of their own before or after the batch (the
    /// one with the smallest id, so refusals name a real replica). Thousands of
    /// identical kubelets cost one resolution, not thousands. Only valid
    /// without rollouts, which may treat every replica differently.
    static func representatives(of liveInstances: [InstanceRef], before: GateState, after: GateState) -> [InstanceRef] {
        var distinct: [InstanceRef] = []
        var chosen: [ReplicaClass: InstanceRef] = [:]
        for instance in liveInstances {
            if before.hasOverrides(at: instance.scope) || after.hasOverrides(at: instance.scope) {
                distinct.append(instance)
                continue
            }
            let key = ReplicaClass(component: instance.component, version: instance.version)
            if let current = chosen[key], current.instanceID <= instance.instanceID { continue }
            chosen[key] = instance
        }
        return distinct + chosen.values
    }

    /// For each point on a component with rollouts in effect (before or after the batch),
    /// and for a global point each such component: the point as a canary of all of them, so a rollout is checked as if it
    /// covered its whole selection (a canary resolves like that).
    static func rolloutVariants(of points: Set<ResolutionPoint>, before: GateState, after: GateState) -> [ResolutionPoint] {
        guard !before.rolloutIndex.isEmpty || !after.rolloutIndex.isEmpty else { return [] }
        var variants: [ResolutionPoint] = []
        var cohorts: [String: RolloutCohorts] = [:]
        var candidates = Array(points)
        if points.contains(where: { $0.scope == .global }) {
            // A global change reaches every component: those with rollouts are checked at their scope too.
            let components = Set(before.componentsWithRolloutsInEffect + after.componentsWithRolloutsInEffect)
            candidates += components.sorted().map { ResolutionPoint(scope: .component($0)) }
        }
        for point in candidates {
            guard let component = point.component, before.hasRolloutsInEffect(on: component) || after.hasRolloutsInEffect(on: component) else { continue }
            let all = cohorts[component] ?? {
                let names = (before.rolloutsInEffect(on: component) + after.rolloutsInEffect(on: component)).map(\.name)
                let value = RolloutCohorts(names)
                cohorts[component] = value
                return value
            }()
            var variant = point
            variant.cohorts = all
            variants.append(variant)
        }
        return variants
    }

    private struct ReplicaClass: Hashable {
        var component: String
        var version: Version?
    }

    /// The scope itself plus every live component and replica it covers.
    static func points(coveredBy scope: Scope, liveInstances: [InstanceRef]) -> Set<ResolutionPoint> {
        var points: Set<ResolutionPoint> = []
        switch scope {
        case .global:
            points.insert(ResolutionPoint(scope: .global))
            for instance in liveInstances {
                points.insert(ResolutionPoint(scope: .component(instance.component)))
                points.insert(ResolutionPoint(instance: instance))
            }
        case .component(let name):
            points.insert(ResolutionPoint(scope: scope))
            for instance in liveInstances where instance.component == name {
                points.insert(ResolutionPoint(instance: instance))
            }
        case .instance(let component, let id):
            let live = liveInstances.filter { $0.component == component && $0.instanceID == id }
            if live.isEmpty {
                points.insert(ResolutionPoint(scope: scope))
            }
            for instance in live {
                points.insert(ResolutionPoint(instance: instance))
            }
        }
        return points
    }

    private static func refusal(_ violation: Violation, at point: ResolutionPoint, work: Work) -> GateError {
        let feature = violation.feature
        let place: String
        switch point.scope {
        case .global: place = "all components (global scope)"
        case .component(let name): place = name
        case .instance(let component, let id): place = "\(component)/\(id)"
        }
        var metadata = ["feature": feature, "scope": point.scope.key]
        switch violation.reason {
        case .versionTooOld(let component, let minimum, let actual):
            metadata["minimum_version"] = minimum.description
            metadata["version"] = actual.description
            return GateError(
                "cannot enable \(feature) on \(place): it needs \(component) \(minimum) or newer, and \(point.instance?.instanceID ?? place) runs \(actual); upgrade that replica first, or enable \(feature) only on upgraded instances",
                reason: .versionSkew,
                metadata: metadata
            )
        case .dependencyDisabled(let dependency):
            metadata["dependency"] = dependency
            if work.enabling.contains(feature) {
                return GateError(
                    "cannot enable \(feature) on \(place): it needs \(dependency), which is disabled there; enable \(dependency) too (in the same batch if you like)",
                    reason: .unmetDependency,
                    metadata: metadata
                )
            }
            if work.featureTargets.contains(dependency) {
                let locked = work.next.feature(feature)?.lockToDefault == true ? " (it is locked on)" : ""
                return GateError(
                    "cannot disable \(dependency) on \(place): \(feature) needs it and is still enabled there\(locked); disable \(feature) first, or in the same batch",
                    reason: .dependentsEnabled,
                    metadata: metadata
                )
            }
            return GateError(
                "this batch would leave \(feature) enabled on \(place) while \(dependency), which it needs, is disabled there; change both together",
                reason: .unmetDependency,
                metadata: metadata
            )
        case .locked, .override, .apiSelector, .rollout, .defaultValue, .stageDefault:
            preconditionFailure("a violation is a dependency or version problem, not \(violation.reason)")
        }
    }
}

/// The result of an accepted batch.
public struct AppliedBatch: Hashable, Sendable {
    /// The state after the batch, at the batch's revision.
    public var state: GateState
    public var summary: BatchSummary

    public init(state: GateState, summary: BatchSummary) {
        self.state = state
        self.summary = summary
    }
}

/// The state being built from one batch, and what the checks need to know about it.
struct Work {
    let state: GateState
    var next: GateState
    let stamp: ChangeStamp
    var touched: Set<ObjectKey> = []
    var catalogChanged = false
    /// Feature names the override changes name: must exist after the batch.
    var namedFeatures: [String] = []
    /// Features the batch sets, clears, defines or removes.
    var featureTargets: Set<String> = []
    /// Features the batch explicitly enables somewhere.
    var enabledByBatch: Set<String> = []
    /// Scopes of feature override changes: where dependencies and skew are checked.
    var featureScopes: [Scope] = []
    var redefinedFeatures: Set<String> = []
    var removedAPI = false
    /// Features a rollout put by this batch turns on for its canaries.
    var enabledByRollout: Set<String> = []
    /// Rollouts this batch creates (starts), in order.
    var startedRollouts: [String] = []
    /// Whether the batch puts any rollout (then finished ones may need pruning).
    var putRollout = false
    /// Override changes that were already in effect (a set of the stored value, a clear of nothing), in batch order.
    var unchanged: [Change] = []
    /// The scopes overrides were written at, with the change that wrote each: their components must be known.
    var writtenScopes: [(change: Change, scope: Scope)] = []

    /// Features the batch turns on, by override or by rollout: what a dependency refusal calls "enable".
    var enabling: Set<String> { self.enabledByBatch.union(self.enabledByRollout) }

    init(state: GateState, stamp: ChangeStamp) {
        self.state = state
        self.next = state
        self.next.revision = stamp.revision
        self.stamp = stamp
    }

    /// The features this batch names plus every feature that needs one of
    /// them, directly or not, sorted: the only ones whose resolution it can change.
    func affectedFeatures() -> [String] {
        let dependents = self.next.dependents
        var affected = self.featureTargets
        var queue = Array(self.featureTargets)
        while let name = queue.popLast() {
            for dependent in dependents[name] ?? [] where affected.insert(dependent).inserted {
                queue.append(dependent)
            }
        }
        return affected.sorted()
    }

    mutating func apply(_ change: Change) throws(GateError) {
        switch change {
        case .setFeature(let name, let scope, let enabled, let parameters):
            try Self.checkScope(scope, change: change)
            guard enabled != nil || !parameters.isEmpty else {
                throw GateError(
                    "\(change): nothing to set; give a value (true or false), parameters, or both",
                    reason: .emptyChange,
                    metadata: ["feature": name]
                )
            }
            let key = FeatureOverrideKey(feature: name, scope: scope)
            let current = self.next.featureOverrides[key]
            var override = current ?? FeatureOverride(feature: name, scope: scope, enabled: nil, stamp: self.stamp)
            if let enabled { override.enabled = enabled }
            override.parameters.merge(parameters) { $1 }
            self.namedFeatures.append(name)
            // Writing what is already in effect changes nothing: no restamp, no revision, no audit noise.
            if let current, current.enabled == override.enabled, current.parameters == override.parameters {
                // Reported only when the batch had not already written it (then the write is what counts).
                if !self.touched.contains(.featureOverride(key)) { self.unchanged.append(change) }
                break
            }
            self.writtenScopes.append((change, scope))
            override.stamp = self.stamp
            self.next.setFeatureOverride(override, forKey: key)
            self.touched.insert(.featureOverride(key))
            self.featureTargets.insert(name)
            if enabled == true { self.enabledByBatch.insert(name) }
            self.featureScopes.append(scope)
        case .clearFeature(let name, let scope):
            try Self.checkScope(scope, change: change)
            let key = FeatureOverrideKey(feature: name, scope: scope)
            if self.next.setFeatureOverride(nil, forKey: key) != nil || self.state.featureOverrides[key] != nil {
                self.touched.insert(.featureOverride(key))
            } else if !self.touched.contains(.featureOverride(key)) {
                // Removing what is not there is already in effect: unchanged, not an error.
                self.unchanged.append(change)
            }
            self.namedFeatures.append(name)
            self.featureTargets.insert(name)
            self.featureScopes.append(scope)
        case .setAPI(let selector, let scope, let enabled):
            try Self.checkScope(scope, change: change)
            let key = APIOverrideKey(selector: selector, scope: scope)
            if self.next.apiOverrides[key]?.enabled == enabled {
                if !self.touched.contains(.apiOverride(key)) { self.unchanged.append(change) }
                break
            }
            self.writtenScopes.append((change, scope))
            self.next.setAPIOverride(APIOverride(selector: selector, scope: scope, enabled: enabled, stamp: self.stamp), forKey: key)
            self.touched.insert(.apiOverride(key))
        case .clearAPI(let selector, let scope):
            try Self.checkScope(scope, change: change)
            let key = APIOverrideKey(selector: selector, scope: scope)
            if self.next.setAPIOverride(nil, forKey: key) != nil || self.state.apiOverrides[key] != nil {
                self.touched.insert(.apiOverride(key))
            } else if !self.touched.contains(.apiOverride(key)) {
                self.unchanged.append(change)
            }
        case .defineFeature(let definition):
            // Defining what is already there changes nothing: no new revision, no audit noise.
            if self.next.features[definition.name]?.value == definition { break }
            self.next.setFeature(Revisioned(definition, revision: self.stamp.revision), named: definition.name)
            self.touched.insert(.feature(definition.name))
            self.catalogChanged = true
            self.featureTargets.insert(definition.name)
            self.redefinedFeatures.insert(definition.name)
        case .defineAPI(let definition):
            if self.next.apis[definition.ref]?.value == definition { break }
            self.next.apis[definition.ref] = Revisioned(definition, revision: self.stamp.revision)
            self.touched.insert(.api(definition.ref))
            self.catalogChanged = true
        case .removeFeature(let name):
            guard self.next.setFeature(nil, named: name) != nil else {
                throw GateError("cannot remove feature \(name): no feature of that name is defined", reason: .unknownFeature, metadata: ["feature": name])
            }
            self.touched.insert(.feature(name))
            for key in self.next.featureOverrides.keys where key.feature == name {
                self.next.setFeatureOverride(nil, forKey: key)
                self.touched.insert(.featureOverride(key))
            }
            self.catalogChanged = true
            self.featureTargets.insert(name)
            self.redefinedFeatures.remove(name)
        case .recordBuild(let build):
            // Re-registering a known build changes nothing: no revision, no audit noise.
            if let known = self.next.builds[build.key], known.knowsTheSame(as: build) { break }
            var recorded = build
            recorded.revision = self.stamp.revision
            self.next.builds[build.key] = recorded
            self.touched.insert(.componentBuild(build.key))
        case .putRollout(var rollout):
            if let stored = self.next.rollouts[rollout.name] {
                guard stored.isSameRollout(as: rollout) else {
                    throw GateError(
                        "a rollout named \(rollout.name) already exists (\(stored.phase.rawValue), \(stored.target) on \(stored.component), started by \(stored.actor)); choose another name",
                        reason: .rolloutExists,
                        metadata: ["rollout": rollout.name]
                    )
                }
                try Self.checkTransition(from: stored, to: rollout)
                // Writing what is already there changes nothing: no new revision for the rollout.
                if rollout.writesNothing(over: stored) { break }
                let entered = stored.step != rollout.step || stored.phase != rollout.phase
                rollout.stepRevision = entered ? self.stamp.revision : stored.stepRevision
            } else {
                try rollout.validateSpec()
                guard rollout.phase == .running, rollout.step == 0 else {
                    throw GateError(
                        "rollout \(rollout.name) does not exist, so it can only be started (running at step 1), not written \(rollout.phase.rawValue) at step \(rollout.step + 1)",
                        reason: .rolloutNotFound,
                        metadata: ["rollout": rollout.name]
                    )
                }
                rollout.stepRevision = self.stamp.revision
                self.startedRollouts.append(rollout.name)
            }
            rollout.revision = self.stamp.revision
            self.next.setRollout(rollout, named: rollout.name)
            self.touched.insert(.rollout(rollout.name))
            self.putRollout = true
            if case .feature(let name) = rollout.target {
                // Its dependencies are checked at its component, as if it covered the whole selection.
                self.featureTargets.insert(name)
                self.featureScopes.append(.component(rollout.component))
                if rollout.enabled && rollout.isInEffect { self.enabledByRollout.insert(name) }
            }
        case .removeAPI(let ref):
            guard self.next.apis.removeValue(forKey: ref) != nil else {
                throw GateError("cannot remove API \(ref): no such API is defined", reason: .unknownAPI, metadata: ["api": ref.description])
            }
            self.touched.insert(.api(ref))
            self.catalogChanged = true
            self.removedAPI = true
        }
    }

    /// After an API is removed, group/version and resource overrides that select nothing go with it.
    mutating func removeOrphanedAPIOverrides() throws(GateError) {
        guard self.removedAPI else { return }
        for (key, _) in self.next.apiOverrides where !self.next.selectsAnyAPI(key.selector) {
            self.next.setAPIOverride(nil, forKey: key)
            self.touched.insert(.apiOverride(key))
        }
    }

    func checkNames() throws(GateError) {
        for name in self.namedFeatures where self.next.features[name] == nil {
            let suggestion = ClosestName.suggestion(for: name, among: self.next.features.keys).map { "; did you mean \($0)?" } ?? ""
            throw GateError(
                "unknown feature \(name): no feature of that name is defined (names are case-sensitive)\(suggestion)",
                reason: .unknownFeature,
                metadata: ["feature": name]
            )
        }
    }

    /// Every component an override is written for must be one the server knows
    /// (``GateState/knowsComponent(_:countingOverrides:)``, or one with a replica
    /// connected): a typo such as `kube-schedular` would otherwise store an
    /// override nothing ever reads.
    func checkComponents(live: LiveReplicas) throws(GateError) {
        for (change, scope) in self.writtenScopes {
            guard let component = scope.component, !live.has(component: component), !self.state.knowsComponent(component),
                !self.next.knowsComponent(component, countingOverrides: false)
            else {
                continue
            }
            let suggestion = ClosestName.suggestion(for: component, among: self.next.knownComponents).map { " (did you mean \($0)?)" } ?? ""
            throw GateError(
                "\(change): unknown component \(component)\(suggestion): no feature or API names it and no instance of it has registered; pass --force (allow_unknown_component) to write it for a component that has not registered yet",
                reason: .unknownComponent,
                metadata: ["component": component, "scope": scope.key]
            )
        }
    }

    /// Applicability, parameters and locks of every override the batch wrote, and of every override on a redefined feature.
    func checkFeatureOverrides() throws(GateError) {
        var keys: Set<FeatureOverrideKey> = []
        for case .featureOverride(let key) in self.touched {
            keys.insert(key)
        }
        if !self.redefinedFeatures.isEmpty {
            for key in self.next.featureOverrides.keys where self.redefinedFeatures.contains(key.feature) {
                keys.insert(key)
            }
        }
        for key in keys.sorted(by: { ($0.feature, $0.scope.key) < ($1.feature, $1.scope.key) }) {
            guard let override = self.next.featureOverrides[key], let definition = self.next.feature(key.feature) else { continue }
            let redefined = self.redefinedFeatures.contains(key.feature) && self.state.featureOverrides[key] == override
            let advice = redefined ? "; it conflicts with the override at \(key.scope): clear that override in the same batch" : ""
            var metadata = ["feature": key.feature, "scope": key.scope.key]
            if let component = key.scope.component, !definition.applies(to: component) {
                metadata["component"] = component
                throw GateError(
                    "feature \(definition.name) does not apply to \(component) (it applies to \(definition.components.joined(separator: ", ")))\(advice)",
                    reason: .notApplicable,
                    metadata: metadata
                )
            }
            for (name, value) in override.parameters.sorted(by: { $0.key < $1.key }) {
                guard let spec = definition.parameter(named: name) else {
                    let known = definition.parameters.isEmpty
                        ? "it has no parameters"
                        : "it has " + definition.parameters.map(\.name).joined(separator: ", ")
                    metadata["parameter"] = name
                    throw GateError(
                        "feature \(definition.name) has no parameter \(name) (\(known))\(advice)",
                        reason: .unknownParameter,
                        metadata: metadata
                    )
                }
                do throws(GateError) {
                    try spec.check(value, feature: definition.name)
                } catch {
                    var error = error
                    error.message += advice
                    throw error
                }
            }
            if definition.lockToDefault, let enabled = override.enabled, enabled != definition.defaultEnabled {
                let state = definition.defaultEnabled ? "enabled" : "disabled"
                throw GateError(
                    "\(definition.name) is locked to \(state) (\(definition.stage)); it cannot be \(enabled ? "enabled" : "disabled") at \(key.scope)\(advice)",
                    reason: .lockedGate,
                    metadata: metadata
                )
            }
        }
    }

    /// Group/version and resource overrides the batch wrote must select a defined API.
    func checkAPIOverrides() throws(GateError) {
        for case .apiOverride(let key) in self.touched.sorted() {
            guard self.next.apiOverrides[key] != nil, !self.next.selectsAnyAPI(key.selector) else { continue }
            throw GateError(
                "unknown API \(key.selector): no defined API matches it (check the group, version and resource names)",
                reason: .unknownAPI,
                metadata: ["api": key.selector.description, "scope": key.scope.key]
            )
        }
    }

    /// Lower is reported first: skew, then what the batch enabled, then what it disabled.
    func preference(_ violation: Violation) -> (Int, String) {
        switch violation.reason {
        case .versionTooOld:
            return (0, violation.feature)
        case .dependencyDisabled(let dependency):
            if self.enabling.contains(violation.feature) { return (1, violation.feature) }
            if self.featureTargets.contains(dependency) { return (2, violation.feature) }
            return (3, violation.feature)
        case .locked, .override, .apiSelector, .rollout, .defaultValue, .stageDefault:
            return (4, violation.feature)
        }
    }

    static func checkScope(_ scope: Scope, change: Change) throws(GateError) {
        let names: [String]
        switch scope {
        case .global: names = []
        case .component(let name): names = [name]
        case .instance(let component, let id): names = [component, id]
        }
        for name in names where !Names.isValidComponentOrInstance(name) {
            throw GateError(
                "\(change): \"\(ControlCharacters.escaped(name))\" is not a valid component or instance name (\(Names.componentOrInstanceRule))",
                reason: .invalidScope,
                metadata: ["scope": scope.key]
            )
        }
    }
}

extension GateState {
    /// Whether a selector covers at least one defined API (`api/all` and stages always do).
    func selectsAnyAPI(_ selector: APISelector) -> Bool {
        switch selector {
        case .all, .stage: true
        case .groupVersion(let groupVersion): self.apis.keys.contains { $0.groupVersion == groupVersion }
        case .resource(let ref): self.apis[ref] != nil
        }
    }

    /// The stored object `key` names, if it exists.
    func object(_ key: ObjectKey) -> StoredObject? {
        switch key {
        case .feature(let name): self.features[name].map(StoredObject.feature)
        case .api(let ref): self.apis[ref].map(StoredObject.api)
        case .featureOverride(let key): self.featureOverrides[key].map(StoredObject.featureOverride)
        case .apiOverride(let key): self.apiOverrides[key].map(StoredObject.apiOverride)
        case .componentBuild(let key): self.builds[key].map(StoredObject.componentBuild)
        case .rollout(let name): self.rollouts[name].map(StoredObject.rollout)
        }
    }
}
