import Atomics
import Foundation

/// Where the state a component reads came from.
public enum StateOrigin: Hashable, Sendable {
    /// A server pushed it on the current or an earlier subscription of this process.
    case server
    /// The last-known-good file, saved at `savedAt` by an earlier run.
    case lastKnownGood(savedAt: Date)
    /// The features and APIs compiled into the binary: no server and no usable file.
    case compiledDefaults
}

/// One immutable view of the component's effective state.
///
/// The component publishes a new one for every change with a single atomic
/// store, so a read is one atomic load and one dictionary lookup: no lock, no
/// await, safe on any hot path. Hold on to one snapshot to read several
/// entries consistently.
///
/// The view is the server's state over the compiled-in defaults: a known
/// feature the server does not define reads its compiled default, and while
/// the offline policy fails closed the affected entries read disabled.
public final class StateSnapshot: Sendable {
    /// The revision of the server state this view is built on; 0 for compiled defaults.
    public let revision: UInt64
    /// Every feature by name.
    public let features: [String: FeatureState]
    /// Every API by `group/version` or `group/version/resource` (core group: `v1`, `v1/pods`).
    public let apis: [String: APIState]
    /// True while no server has confirmed this state: before boot, and whenever disconnected.
    public let isStale: Bool
    /// True while the offline policy overrides entries (stale for longer than the TTL).
    public let isFailingClosed: Bool
    public let origin: StateOrigin

    init(
        revision: UInt64,
        features: [String: FeatureState],
        apis: [String: APIState],
        isStale: Bool,
        isFailingClosed: Bool,
        origin: StateOrigin
    ) {
        self.revision = revision
        self.features = features
        self.apis = apis
        self.isStale = isStale
        self.isFailingClosed = isFailingClosed
        self.origin = origin
    }

    /// The view of `cache` over `defaults`, with the offline policy applied when `failingClosed`.
    convenience init(
        cache: EffectiveCache,
        defaults: CompiledDefaults,
        origin: StateOrigin,
        isStale: Bool,
        failingClosed: Bool,
        policy: OfflinePolicy
    ) {
        var features = defaults.features
        features.merge(cache.features) { _, server in server }
        var apis = defaults.apis
        apis.merge(cache.apis) { _, server in server }
        if failingClosed {
            for (name, state) in features {
                features[name] = policy.failingClosed(feature: name, state)
            }
            for (ref, state) in apis {
                apis[ref] = policy.failingClosed(api: state)
            }
        }
        var byKey: [String: APIState] = [:]
        byKey.reserveCapacity(apis.count)
        for (ref, state) in apis {
            byKey[ref.description] = state
        }
        self.init(
            revision: cache.revision,
            features: features,
            apis: byKey,
            isStale: isStale,
            isFailingClosed: failingClosed,
            origin: origin
        )
    }

    /// Whether `feature` is enabled. A feature neither the server nor the binary knows reads false:
    /// code behind a gate nobody defined stays off.
    public func isEnabled(_ feature: String) -> Bool {
        self.features[feature]?.enabled ?? false
    }

    /// Whether the component serves `api`, spelled `group/version[/resource]` (`batch/v1beta1`,
    /// `apps/v1/deployments`, `v1`). A resource without an entry of its own follows its
    /// group/version, as in Kubernetes' `--runtime-config`; an unknown API reads false.
    public func isServed(_ api: String) -> Bool {
        if let state = self.apis[api] { return state.enabled }
        guard let slash = api.lastIndex(of: "/") else { return false }
        return self.apis[String(api[..<slash])]?.enabled ?? false
    }

    /// Whether the component serves `api`.
    public func isServed(_ api: APIRef) -> Bool {
        self.isServed(api.description)
    }

    /// The value of parameter `name` of `feature`, whether or not the feature is enabled; nil when unknown.
    public func parameter(_ name: String, of feature: String) -> ParameterValue? {
        self.features[feature]?.parameters[name]
    }

    /// What differs from `previous`, sorted by name.
    func changes(since previous: StateSnapshot) -> (features: [FeatureChange], apis: [APIChange]) {
        var features: [FeatureChange] = []
        for name in Set(self.features.keys).union(previous.features.keys) {
            let before = previous.features[name]
            let after = self.features[name]
            if before != after { features.append(FeatureChange(name: name, before: before, after: after)) }
        }
        var apis: [APIChange] = []
        for key in Set(self.apis.keys).union(previous.apis.keys) {
            let before = previous.apis[key]
            let after = self.apis[key]
            if before != after { apis.append(APIChange(api: key, before: before, after: after)) }
        }
        return (features.sorted { $0.name < $1.name }, apis.sorted { $0.api < $1.api })
    }
}

extension StateSnapshot: AtomicReference {}

/// The compiled-in features and APIs as state: what the component runs on with nothing else.
struct CompiledDefaults: Hashable, Sendable {
    var features: [String: FeatureState]
    var apis: [APIRef: APIState]

    init(features: [KnownFeature], apis: [KnownAPI]) {
        self.features = Dictionary(features.map { ($0.name, $0.defaultState) }, uniquingKeysWith: { _, last in last })
        self.apis = Dictionary(apis.map { ($0.ref, $0.defaultState) }, uniquingKeysWith: { _, last in last })
    }

    var stageHints: EffectiveCache.StageHints {
        EffectiveCache.StageHints(features: self.features.mapValues(\.stage), apis: self.apis.mapValues(\.stage))
    }
}
