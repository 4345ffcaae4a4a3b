import CoreMetrics
import GatehouseCore
import Synchronization

/// The gauges of what is true *now*, set from the server's state when
/// Prometheus scrapes, not on every change: the gate state per component,
/// open connections, subscribers, rollouts by phase, the revision.
///
/// Reading them only at scrape time keeps the write path free of them (a
/// toggle does not resolve every component to update a gauge) and makes them
/// exact at the moment they are read.
final class ScrapeSampler: Sendable {
    /// What the sampler reads; each part is set once the server has it.
    struct Sources: Sendable {
        /// The committed gate state; nil until the store is open.
        var state: (@Sendable () -> GateState)?
        /// Component names of registered instances, connected or not.
        var registeredComponents: @Sendable () -> Set<String> = { [] }
        /// Connections by stage: (handshaking, authenticated).
        var connections: @Sendable () -> (handshaking: Int, authenticated: Int) = { (0, 0) }
        /// Subscriptions open now.
        var subscribers: @Sendable () -> Int = { 0 }
    }

    /// One `gatehouse_feature_enabled` series.
    private struct FeatureKey: Hashable {
        var feature: String
        var component: String
    }

    private let factory: any MetricsFactory
    private let sources: Mutex<Sources>
    /// The feature series emitted at the last scrape: ones whose feature or component is gone are removed.
    private let features = Mutex<[FeatureKey: Gauge]>([:])
    private let handshaking: Gauge
    private let authenticated: Gauge
    private let subscribers: Gauge
    private let revision: Gauge
    private let rollouts: [RolloutPhase: Gauge]

    init(factory: any MetricsFactory, sources: Sources) {
        self.factory = factory
        self.sources = Mutex(sources)
        self.handshaking = Gauge(label: "gatehouse_connections_open", dimensions: [("stage", "handshaking")], factory: factory)
        self.authenticated = Gauge(label: "gatehouse_connections_open", dimensions: [("stage", "authenticated")], factory: factory)
        self.subscribers = Gauge(label: "gatehouse_subscribers", factory: factory)
        self.revision = Gauge(label: "gatehouse_revision", factory: factory)
        var rollouts: [RolloutPhase: Gauge] = [:]
        for phase in RolloutPhase.allCases {
            rollouts[phase] = Gauge(label: "gatehouse_rollouts", dimensions: [("phase", phase.rawValue)], factory: factory)
        }
        self.rollouts = rollouts
    }

    /// Replaces what the sampler reads (the server fills it in as its parts start).
    func update(_ body: (inout Sources) -> Void) {
        self.sources.withLock { body(&$0) }
    }

    /// Sets every gauge from the current state; call right before emitting.
    func sample() {
        let sources = self.sources.withLock { $0 }
        let connections = sources.connections()
        self.handshaking.record(connections.handshaking)
        self.authenticated.record(connections.authenticated)
        self.subscribers.record(sources.subscribers())
        guard let state = sources.state?() else { return }
        self.revision.record(Int64(truncatingIfNeeded: state.revision.rawValue))
        var phases: [RolloutPhase: Int] = [:]
        for rollout in state.rollouts.values { phases[rollout.phase, default: 0] += 1 }
        for (phase, gauge) in self.rollouts { gauge.record(phases[phase] ?? 0) }
        self.sampleFeatures(Self.featureStates(state, registeredComponents: sources.registeredComponents()))
    }

    /// `gatehouse_feature_enabled{feature,component}`: 1 when the feature is on for the
    /// component, 0 when off, for every component the catalog names or an instance
    /// registered as, and every feature that applies to it.
    ///
    /// The value is the component-level effective state (defaults, locks, global and
    /// component overrides, dependencies): what an instance of it with no overrides of
    /// its own, outside any rollout's canaries, runs. Instance overrides and canaries
    /// may differ; `gatectl explain FEATURE --instance` shows those.
    static func featureStates(_ state: GateState, registeredComponents: Set<String>) -> [String: [String: Bool]] {
        var components = registeredComponents
        for feature in state.features.values { components.formUnion(feature.value.components) }
        let resolver = Resolver(state: state)
        var result: [String: [String: Bool]] = [:]
        for component in components {
            let effective = resolver.resolve(scope: .component(component))
            var features: [String: Bool] = [:]
            for (name, resolved) in effective.features { features[name] = resolved.enabled }
            result[component] = features
        }
        return result
    }

    private func sampleFeatures(_ states: [String: [String: Bool]]) {
        self.features.withLock { gauges in
            var seen = Set<FeatureKey>()
            for (component, features) in states {
                for (feature, enabled) in features {
                    let key = FeatureKey(feature: feature, component: component)
                    seen.insert(key)
                    let gauge = gauges[key] ?? {
                        let made = Gauge(label: "gatehouse_feature_enabled", dimensions: [("feature", feature), ("component", component)], factory: self.factory)
                        gauges[key] = made
                        return made
                    }()
                    gauge.record(enabled ? 1 : 0)
                }
            }
            for (key, gauge) in gauges where !seen.contains(key) {
                gauge.destroy()
                gauges[key] = nil
            }
        }
    }
}
