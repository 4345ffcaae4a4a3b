/// What a feature or API does once the component has been cut off from every
/// server for longer than the offline TTL.
public enum OfflineBehavior: Hashable, Sendable {
    /// Reads disabled: an experiment must not outlive the control that can stop it.
    case failClosed
    /// Keeps the last state the server (or the last-known-good file) gave.
    case keepLastState
}

/// Decides which entries fail closed when the component runs stale past a TTL.
///
/// Alpha features and APIs fail closed by default: they are the ones an admin
/// switches on to try and may need to switch off in a hurry, and a component
/// that cannot hear the server can no longer be told. Beta, GA and deprecated
/// entries keep their last state, since turning them off would break what
/// already relies on them. A `KnownFeature`/`KnownAPI` may choose otherwise.
/// Pure: the caller says how long it has been offline.
public struct OfflinePolicy: Hashable, Sendable {
    /// How long the component keeps its last state unchanged after losing the server.
    public var ttl: Duration
    /// Stages that fail closed unless an entry says otherwise.
    public var failClosedStages: Set<Stage>
    /// Per-feature choices, by feature name.
    public var features: [String: OfflineBehavior]
    /// Per-API choices.
    public var apis: [APIRef: OfflineBehavior]

    public init(
        ttl: Duration = .seconds(300),
        failClosedStages: Set<Stage> = [.alpha],
        features: [String: OfflineBehavior] = [:],
        apis: [APIRef: OfflineBehavior] = [:]
    ) {
        self.ttl = ttl
        self.failClosedStages = failClosedStages
        self.features = features
        self.apis = apis
    }

    /// Whether a component offline for `offlineFor` is past the TTL.
    public func isExpired(offlineFor: Duration) -> Bool {
        offlineFor >= self.ttl
    }

    public func behavior(ofFeature name: String, stage: Stage) -> OfflineBehavior {
        self.features[name] ?? (self.failClosedStages.contains(stage) ? .failClosed : .keepLastState)
    }

    public func behavior(ofAPI ref: APIRef, stage: Stage) -> OfflineBehavior {
        self.apis[ref] ?? (self.failClosedStages.contains(stage) ? .failClosed : .keepLastState)
    }

    /// The feature as it reads while failing closed.
    func failingClosed(feature name: String, _ state: FeatureState) -> FeatureState {
        guard state.enabled, self.behavior(ofFeature: name, stage: state.stage) == .failClosed else { return state }
        var closed = state
        closed.enabled = false
        return closed
    }

    /// The API as it reads while failing closed.
    func failingClosed(api state: APIState) -> APIState {
        guard state.enabled, self.behavior(ofAPI: state.ref, stage: state.stage) == .failClosed else { return state }
        var closed = state
        closed.enabled = false
        return closed
    }
}
