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
        state.replay(summary)
        return state
    }

    /// Replays `summary` in place: a state held only here is not copied.
    public mutating func replay(_ summary: BatchSummary) {
        for change in summary.changes {
            self.set(change.key, to: change.after)
        }
        self.revision = summary.revision
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

    private mutating func set(_ key: ObjectKey, to object: StoredObject?) {
        switch (key, object) {
        case (.feature(let name), .feature(let value)?):
            self.setFeature(value, named: name)
        case (.feature(let name), _):
            self.setFeature(nil, named: name)
        case (.api(let ref), .api(let value)?):
            self.apis[ref] = value
        case (.api(let ref), _):
            self.apis[ref] = nil
        case (.featureOverride(let overrideKey), .featureOverride(let value)?):
            self.setFeatureOverride(value, forKey: overrideKey)
        case (.featureOverride(let overrideKey), _):
            self.setFeatureOverride(nil, forKey: overrideKey)
        case (.apiOverride(let overrideKey), .apiOverride(let value)?):
            self.setAPIOverride(value, forKey: overrideKey)
        case (.apiOverride(let overrideKey), _):
            self.setAPIOverride(nil, forKey: overrideKey)
        case (.componentBuild(let buildKey), .componentBuild(let value)?):
            self.builds[buildKey] = value
        case (.componentBuild(let buildKey), _):
            self.builds[buildKey] = nil
        case (.rollout(let name), .rollout(let value)?):
            self.setRollout(value, named: name)
        case (.rollout(let name), _):
            self.setRollout(nil, named: name)
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
        case .rollout(let value): .rollout(value.name)
        }
    }
}
