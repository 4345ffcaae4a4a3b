/// What an accepted batch changed: enough for the store to persist it and the audit log to show it.
public struct BatchSummary: Hashable, Sendable {
    /// The revision the batch committed at.
    public var revision: Revision
    /// One entry per stored object written or deleted, in a stable order.
    public var changes: [ObjectChange]
    /// The batch's override changes that were already in effect and wrote nothing, in batch order:
    /// a caller is told "unchanged" for them rather than silence.
    public var unchanged: [Change]

    public init(revision: Revision, changes: [ObjectChange], unchanged: [Change] = []) {
        self.revision = revision
        self.changes = changes
        self.unchanged = unchanged
    }
}

/// One stored object before and after a batch (nil: did not exist / was deleted).
public struct ObjectChange: Hashable, Sendable {
    public var key: ObjectKey
    public var before: StoredObject?
    public var after: StoredObject?

    public init(key: ObjectKey, before: StoredObject?, after: StoredObject?) {
        self.key = key
        self.before = before
        self.after = after
    }
}

/// Names one stored object; `kind` and `name` map one to one to a store record's kind and key.
public enum ObjectKey: Hashable, Sendable, Comparable {
    case feature(String)
    case api(APIRef)
    case featureOverride(FeatureOverrideKey)
    case apiOverride(APIOverrideKey)
    case componentBuild(ComponentBuildKey)
    /// A rollout, by name.
    case rollout(String)

    /// `feature`, `api`, `feature_override`, `api_override`, `component_build` or `rollout`.
    public var kind: String {
        switch self {
        case .feature: "feature"
        case .api: "api"
        case .featureOverride: "feature_override"
        case .apiOverride: "api_override"
        case .componentBuild: "component_build"
        case .rollout: "rollout"
        }
    }

    /// Unique within the kind: `Foo`, `apps/v1/deployments`, `Foo@component/kubelet`, `api/beta@global`.
    public var name: String {
        switch self {
        case .feature(let name): name
        case .api(let ref): ref.description
        case .featureOverride(let key): "\(key.feature)@\(key.scope.key)"
        case .apiOverride(let key): "\(key.selector)@\(key.scope.key)"
        case .componentBuild(let key): key.description
        case .rollout(let name): name
        }
    }

    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool {
        (lhs.order, lhs.name) < (rhs.order, rhs.name)
    }

    private var order: Int {
        switch self {
        case .feature: 0
        case .api: 1
        case .featureOverride: 2
        case .apiOverride: 3
        case .componentBuild: 4
        case .rollout: 5
        }
    }
}

/// A stored object's value, by kind.
public enum StoredObject: Hashable, Sendable {
    case feature(Revisioned<FeatureDefinition>)
    case api(Revisioned<APIDefinition>)
    case featureOverride(FeatureOverride)
    case apiOverride(APIOverride)
    case componentBuild(ComponentBuild)
    case rollout(Rollout)

    /// The revision that last changed it.
    public var revision: Revision {
        switch self {
        case .feature(let value): value.revision
        case .api(let value): value.revision
        case .featureOverride(let value): value.stamp.revision
        case .apiOverride(let value): value.stamp.revision
        case .componentBuild(let value): value.revision
        case .rollout(let value): value.revision
        }
    }
}
