/// What a subscribed instance is pushed: each feature's and API's value,
/// parameters and stage, without the reasons.
///
/// Reasons carry the revision of the override that decided them, so a
/// state compared with reasons would "change" whenever an unrelated
/// override is rewritten; a subscriber acts only on values. Two instances
/// with equal push states are served the same bytes.
public struct PushState: Hashable, Sendable {
    public var revision: Revision
    public var features: [String: PushedFeature]
    public var apis: [APIRef: PushedAPI]

    public init(revision: Revision, features: [String: PushedFeature] = [:], apis: [APIRef: PushedAPI] = [:]) {
        self.revision = revision
        self.features = features
        self.apis = apis
    }

    /// The values of `effective`, with each entry's stage from `state`'s catalog.
    public init(_ effective: EffectiveState, in state: GateState) {
        self.revision = effective.revision
        self.features = effective.features.mapValues { feature in
            PushedFeature(
                name: feature.name,
                enabled: feature.enabled,
                parameters: feature.parameters,
                stage: state.features[feature.name]?.value.stage ?? .alpha
            )
        }
        self.apis = effective.apis.mapValues { api in
            PushedAPI(ref: api.ref, enabled: api.enabled, stage: state.apis[api.ref]?.value.stage ?? .alpha)
        }
    }

    /// What changed from `old` to `self`: entries added or altered, entries gone.
    public func delta(from old: PushState) -> PushDelta {
        var delta = PushDelta(baseRevision: old.revision, revision: self.revision)
        for (name, feature) in self.features where old.features[name] != feature {
            delta.features.append(feature)
        }
        for (ref, api) in self.apis where old.apis[ref] != api {
            delta.apis.append(api)
        }
        delta.removedFeatures = old.features.keys.filter { self.features[$0] == nil }
        delta.removedAPIs = old.apis.keys.filter { self.apis[$0] == nil }
        delta.sort()
        return delta
    }
}

/// One feature as a subscriber sees it.
public struct PushedFeature: Hashable, Sendable {
    public var name: String
    public var enabled: Bool
    public var parameters: [String: ParameterValue]
    /// Offline policy depends on it: alpha fails closed when the subscriber is stale.
    public var stage: Stage

    public init(name: String, enabled: Bool, parameters: [String: ParameterValue] = [:], stage: Stage) {
        self.name = name
        self.enabled = enabled
        self.parameters = parameters
        self.stage = stage
    }
}

/// One API as a subscriber sees it.
public struct PushedAPI: Hashable, Sendable {
    public var ref: APIRef
    public var enabled: Bool
    public var stage: Stage

    public init(ref: APIRef, enabled: Bool, stage: Stage) {
        self.ref = ref
        self.enabled = enabled
        self.stage = stage
    }
}

/// The difference between two push states of one instance, sorted for stable output.
public struct PushDelta: Hashable, Sendable {
    /// The revision of the state the delta applies to.
    public var baseRevision: Revision
    /// The revision after it.
    public var revision: Revision
    /// Features added or altered (their whole new state), by name.
    public var features: [PushedFeature] = []
    /// APIs added or altered, by reference.
    public var apis: [PushedAPI] = []
    public var removedFeatures: [String] = []
    public var removedAPIs: [APIRef] = []

    public init(baseRevision: Revision, revision: Revision) {
        self.baseRevision = baseRevision
        self.revision = revision
    }

    /// Nothing the subscriber acts on changed.
    public var isEmpty: Bool {
        self.features.isEmpty && self.apis.isEmpty && self.removedFeatures.isEmpty && self.removedAPIs.isEmpty
    }

    /// The names of everything the delta touches: feature names and API references.
    public var touchedFeatures: [String] { self.features.map(\.name) + self.removedFeatures }
    public var touchedAPIs: [APIRef] { self.apis.map(\.ref) + self.removedAPIs }

    mutating func sort() {
        self.features.sort { $0.name < $1.name }
        self.apis.sort { $0.ref < $1.ref }
        self.removedFeatures.sort()
        self.removedAPIs.sort()
    }
}
