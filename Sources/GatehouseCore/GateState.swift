import HashTreeCollections

/// Everything Gatehouse stores, as one immutable value: the catalog, the overrides, the revision.
///
/// Overrides are keyed by (target, scope), so resolution finds the override
/// that decides an entry with at most a handful of dictionary lookups (three
/// scopes × up to four selectors) instead of scanning: resolving one instance
/// is linear in the catalog, whatever the number of overrides. Only
/// `BatchApplier` produces a new state from an old one; the store rebuilds a
/// state from its records with the public initialiser.
public struct GateState: Hashable, Sendable {
    /// The revision of the last committed batch.
    public internal(set) var revision: Revision
    /// Feature definitions by name.
    /// Written only through ``setFeature(_:named:)``, which keeps `dependents` in step.
    public private(set) var features: [String: Revisioned<FeatureDefinition>]
    /// For each feature, the features that need it directly. Derived from
    /// `features` and updated with each definition that changes (not rebuilt:
    /// rebuilding per definition made importing n features O(n²), 24 s for
    /// 10,000), so a toggle finds what it can break without scanning the catalog.
    private(set) var dependents: [String: Set<String>]
    /// API definitions by group/version/resource.
    public internal(set) var apis: [APIRef: Revisioned<APIDefinition>]
    /// Persistent hash trees, not dictionaries: every batch builds its new
    /// state from the published one, which readers still hold, and a
    /// dictionary would be copied whole (O(overrides) per toggle, milliseconds
    /// at 10,000 overrides); a tree copies only the path to what changed.
    public private(set) var featureOverrides: TreeDictionary<FeatureOverrideKey, FeatureOverride>
    public private(set) var apiOverrides: TreeDictionary<APIOverrideKey, APIOverride>
    /// How many overrides, feature and API, each scope holds: whether a
    /// replica has overrides of its own is then one lookup, not a scan of
    /// every override (the skew guard and the subscription hub ask it per
    /// replica). Kept by the two setters below, the only writers of overrides.
    private var overrideCounts: TreeDictionary<Scope, Int>
    /// What each registered component build knows (see `ComponentBuild`); resolution ignores it.
    public internal(set) var builds: [ComponentBuildKey: ComponentBuild]
    /// Rollouts by name, finished ones included (until the applier prunes them).
    /// Written only through ``setRollout(_:named:)``, which keeps `rolloutIndex` in step.
    public private(set) var rollouts: TreeDictionary<String, Rollout>
    /// The names of the rollouts in effect (running, paused, completed), by
    /// component then target: at most one per (target, component), and
    /// finding an instance's cohorts looks only at its own component's.
    private(set) var rolloutIndex: [String: [RolloutTarget: String]]

    /// The empty state at revision 0.
    public init() {
        self.revision = .zero
        self.features = [:]
        self.dependents = [:]
        self.apis = [:]
        self.featureOverrides = [:]
        self.apiOverrides = [:]
        self.overrideCounts = [:]
        self.builds = [:]
        self.rollouts = [:]
        self.rolloutIndex = [:]
    }

    /// Rebuilds a state from stored objects (later duplicates replace earlier ones).
    public init(
        revision: Revision,
        features: [Revisioned<FeatureDefinition>],
        apis: [Revisioned<APIDefinition>],
        featureOverrides: [FeatureOverride],
        apiOverrides: [APIOverride],
        builds: [ComponentBuild] = [],
        rollouts: [Rollout] = []
    ) {
        self.revision = revision
        self.features = Dictionary(features.map { ($0.value.name, $0) }, uniquingKeysWith: { $1 })
        self.dependents = Self.dependents(of: self.features)
        self.apis = Dictionary(apis.map { ($0.value.ref, $0) }, uniquingKeysWith: { $1 })
        self.featureOverrides = TreeDictionary(featureOverrides.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        self.apiOverrides = TreeDictionary(apiOverrides.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        self.builds = Dictionary(builds.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        self.overrideCounts = [:]
        for key in self.featureOverrides.keys { self.overrideCounts[key.scope, default: 0] += 1 }
        for key in self.apiOverrides.keys { self.overrideCounts[key.scope, default: 0] += 1 }
        self.rollouts = [:]
        self.rolloutIndex = [:]
        for rollout in rollouts {
            self.setRollout(rollout, named: rollout.name)
        }
    }

    private static func dependents(of features: [String: Revisioned<FeatureDefinition>]) -> [String: Set<String>] {
        var dependents: [String: Set<String>] = [:]
        for (name, feature) in features {
            for dependency in feature.value.dependencies {
                dependents[dependency, default: []].insert(name)
            }
        }
        return dependents
    }

    /// Defines, replaces or (with `nil`) removes the feature `name`, updating
    /// `dependents` by the difference only: O(dependencies), not O(catalog).
    @discardableResult
    mutating func setFeature(_ value: Revisioned<FeatureDefinition>?, named name: String) -> Revisioned<FeatureDefinition>? {
        let previous = value.map { self.features.updateValue($0, forKey: name) } ?? self.features.removeValue(forKey: name)
        for dependency in previous?.value.dependencies ?? [] {
            self.dependents[dependency]?.remove(name)
            if self.dependents[dependency]?.isEmpty == true { self.dependents[dependency] = nil }
        }
        for dependency in value?.value.dependencies ?? [] {
            self.dependents[dependency, default: []].insert(name)
        }
        return previous
    }

    /// Whether any feature or API override is set at exactly `scope`.
    public func hasOverrides(at scope: Scope) -> Bool {
        self.overrideCounts[scope] != nil
    }

    /// Sets or (with `nil`) clears one feature override; returns the one it replaced.
    @discardableResult
    mutating func setFeatureOverride(_ value: FeatureOverride?, forKey key: FeatureOverrideKey) -> FeatureOverride? {
        let previous = value.map { self.featureOverrides.updateValue($0, forKey: key) } ?? self.featureOverrides.removeValue(forKey: key)
        self.countOverride(at: key.scope, added: value != nil, replaced: previous != nil)
        return previous
    }

    /// Sets or (with `nil`) clears one API override; returns the one it replaced.
    @discardableResult
    mutating func setAPIOverride(_ value: APIOverride?, forKey key: APIOverrideKey) -> APIOverride? {
        let previous = value.map { self.apiOverrides.updateValue($0, forKey: key) } ?? self.apiOverrides.removeValue(forKey: key)
        self.countOverride(at: key.scope, added: value != nil, replaced: previous != nil)
        return previous
    }

    /// Sets or (with `nil`) removes the rollout `name`, keeping the in-effect
    /// index in step; returns the one it replaced.
    ///
    /// The index holds one name per (component, target): a rollout leaving
    /// effect frees its slot only if it still holds it, so replaying an old
    /// record never evicts the rollout that took the slot since.
    @discardableResult
    mutating func setRollout(_ value: Rollout?, named name: String) -> Rollout? {
        let previous = value.map { self.rollouts.updateValue($0, forKey: name) } ?? self.rollouts.removeValue(forKey: name)
        if let previous, self.rolloutIndex[previous.component]?[previous.target] == name {
            self.rolloutIndex[previous.component]?[previous.target] = nil
            if self.rolloutIndex[previous.component]?.isEmpty == true { self.rolloutIndex[previous.component] = nil }
        }
        if let value, value.isInEffect {
            self.rolloutIndex[value.component, default: [:]][value.target] = name
        }
        return previous
    }

    private mutating func countOverride(at scope: Scope, added: Bool, replaced: Bool) {
        switch (added, replaced) {
        case (true, false):
            self.overrideCounts[scope, default: 0] += 1
        case (false, true):
            let remaining = (self.overrideCounts[scope] ?? 1) - 1
            self.overrideCounts[scope] = remaining > 0 ? remaining : nil
        case (true, true), (false, false):
            break
        }
    }

    /// The catalog part of the state, sorted (features by name, APIs by reference).
    public var catalog: Catalog {
        Catalog(
            features: self.features.values.map(\.value).sorted { $0.name < $1.name },
            apis: self.apis.values.map(\.value).sorted { $0.ref < $1.ref }
        )
    }

    /// The feature called `name`, if defined.
    public func feature(_ name: String) -> FeatureDefinition? {
        self.features[name]?.value
    }

    /// Every override set on `feature`, widest scope first.
    public func overrides(ofFeature feature: String) -> [FeatureOverride] {
        self.featureOverrides.values.filter { $0.feature == feature }.sorted { ($0.scope.rank, $0.scope.key) < ($1.scope.rank, $1.scope.key) }
    }

    /// Every API override whose selector covers `api`, widest scope first, then least specific first.
    public func overrides(coveringAPI api: APIDefinition) -> [APIOverride] {
        self.apiOverrides.values.filter { $0.selector.matches(api) }.sorted {
            ($0.scope.rank, $0.selector.specificity, $0.scope.key) < ($1.scope.rank, $1.selector.specificity, $1.scope.key)
        }
    }
}

extension Scope {
    /// 0 for global, 1 for component, 2 for instance: narrower is higher.
    var rank: Int {
        switch self {
        case .global: 0
        case .component: 1
        case .instance: 2
        }
    }
}

extension GateState: Codable {
    private enum CodingKeys: String, CodingKey {
        case revision
        case features
        case apis
        case featureOverrides = "feature_overrides"
        case apiOverrides = "api_overrides"
        case builds
        case rollouts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            revision: try container.decode(Revision.self, forKey: .revision),
            features: try container.decode([Revisioned<FeatureDefinition>].self, forKey: .features),
            apis: try container.decode([Revisioned<APIDefinition>].self, forKey: .apis),
            featureOverrides: try container.decode([FeatureOverride].self, forKey: .featureOverrides),
            apiOverrides: try container.decode([APIOverride].self, forKey: .apiOverrides),
            builds: try container.decodeIfPresent([ComponentBuild].self, forKey: .builds) ?? [],
            rollouts: try container.decodeIfPresent([Rollout].self, forKey: .rollouts) ?? []
        )
    }

    /// Encodes as sorted lists, so equal states encode to equal bytes.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.revision, forKey: .revision)
        try container.encode(self.features.values.sorted { $0.value.name < $1.value.name }, forKey: .features)
        try container.encode(self.apis.values.sorted { $0.value.ref < $1.value.ref }, forKey: .apis)
        try container.encode(
            self.featureOverrides.values.sorted { ($0.feature, $0.scope.key) < ($1.feature, $1.scope.key) },
            forKey: .featureOverrides
        )
        try container.encode(
            self.apiOverrides.values.sorted { ($0.selector.description, $0.scope.key) < ($1.selector.description, $1.scope.key) },
            forKey: .apiOverrides
        )
        try container.encode(self.builds.values.sorted { $0.key < $1.key }, forKey: .builds)
        try container.encode(self.rollouts.values.sorted { $0.name < $1.name }, forKey: .rollouts)
    }
}
