/// Moving a state along its history by the objects each batch changed.
///
/// A committed batch's `BatchSummary` lists every object it wrote with its
/// value before and after, so the state at any retained revision can be
/// rebuilt from a later one (reverting) and walked forward again
/// (replaying). Subscriptions use this to resume a subscriber from the
/// revision it last applied without keeping a copy of every past state.
extension GateState {
    /// The state after `summary`'s batch: every object it names set to its value after.
    public func replaying(_ summary: BatchSummary) -> GateState {
        var state = self
        for change in summary.changes {
            state.set(change.key, to: change.after)
        }
        state.revision = summary.revision
        return state
    }

    /// The state before `summary`'s batch: every object it names set back to its value before.
    public func reverting(_ summary: BatchSummary) -> GateState {
        var state = self
        for change in summary.changes {
            state.set(change.key, to: change.before)
        }
        state.revision = Revision(summary.revision.rawValue - 1)
        return state
    }

    /// Every instance scope that has a feature or API override of its own.
    public var instanceScopesWithOverrides: Set<Scope> {
        var scopes: Set<Scope> = []
        for key in self.featureOverrides.keys { if case .instance = key.scope { scopes.insert(key.scope) } }
        for key in self.apiOverrides.keys { if case .instance = key.scope { scopes.insert(key.scope) } }
        return scopes
    }

    /// Whether any feature or API override is set at exactly `scope`.
    public func hasOverrides(at scope: Scope) -> Bool {
        self.featureOverrides.keys.contains { $0.scope == scope } || self.apiOverrides.keys.contains { $0.scope == scope }
    }

    private mutating func set(_ key: ObjectKey, to object: StoredObject?) {
        switch (key, object) {
        case (.feature(let name), .feature(let value)?):
            self.features[name] = value
        case (.feature(let name), _):
            self.features[name] = nil
        case (.api(let ref), .api(let value)?):
            self.apis[ref] = value
        case (.api(let ref), _):
            self.apis[ref] = nil
        case (.featureOverride(let overrideKey), .featureOverride(let value)?):
            self.featureOverrides[overrideKey] = value
        case (.featureOverride(let overrideKey), _):
            self.featureOverrides[overrideKey] = nil
        case (.apiOverride(let overrideKey), .apiOverride(let value)?):
            self.apiOverrides[overrideKey] = value
        case (.apiOverride(let overrideKey), _):
            self.apiOverrides[overrideKey] = nil
        case (.componentBuild(let buildKey), .componentBuild(let value)?):
            self.builds[buildKey] = value
        case (.componentBuild(let buildKey), _):
            self.builds[buildKey] = nil
        }
    }
}

extension StoredObject {
    /// The key the object is stored under.
    public var key: ObjectKey {
        switch self {
        case .feature(let value): .feature(value.value.name)
        case .api(let value): .api(value.value.ref)
        case .featureOverride(let value): .featureOverride(value.key)
        case .apiOverride(let value): .apiOverride(value.key)
        case .componentBuild(let value): .componentBuild(value.key)
        }
    }
}
