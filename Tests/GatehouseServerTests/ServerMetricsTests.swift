import Foundation
import GatehouseCore
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import GatehouseServer

/// The metrics without a server: gate state per component, scrape-time
/// gauges, group sizes, rollout transitions and readiness, read back from a
/// real Prometheus registry's text output.
@Suite struct ServerMetricsTests {
    static let catalog = Catalog(
        features: [
            FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false),
            FeatureDefinition(name: "K", components: ["kubelet"], stage: .beta, defaultEnabled: true),
        ],
        apis: []
    )

    static func state(_ changes: [Change]) throws -> GateState {
        var state = GateState()
        _ = try SubscriptionHubTests.commit(Self.catalog.features.map { .defineFeature($0) }, to: &state)
        if !changes.isEmpty {
            // Components the catalog does not name stand for registered ones, as --force allows.
            let batch = ChangeBatch(changes: changes, actor: "t", allowsUnknownComponents: true)
            state = try BatchApplier().apply(batch, to: state, at: UnixMilliseconds(1), liveInstances: []).state
        }
        return state
    }

    /// The value of the series `name{labels}` in Prometheus text, or nil when absent.
    static func value(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let seriesName = series.firstIndex(of: "{").map { series[..<$0] } ?? series
            guard seriesName == name else { continue }
            let present = labels.allSatisfy { key, value in series.contains("\(key)=\"\(value)\"") }
            if present { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    @Test func featureStatesAreEachComponentsEffectiveStateWithoutInstanceOverrides() throws {
        let state = try Self.state([
            .setFeature("A", scope: .global, enabled: true),
            .setFeature("A", scope: .component("kube-scheduler"), enabled: false),
            .setFeature("A", scope: .instance(component: "kubelet", id: "node-1"), enabled: false),
        ])
        let states = ScrapeSampler.featureStates(state, registeredComponents: ["kube-scheduler"])
        #expect(states["kubelet"] == ["A": true, "K": true], "the catalog names kubelet; node-1's own override is not the component's state")
        #expect(states["kube-scheduler"] == ["A": false], "a registered component, with its own override; K does not apply to it")
        #expect(states.count == 2)
    }

    @Test func aScrapeSetsFeatureGaugesAndDropsThoseNoLongerNamed() throws {
        let backend = MetricsBackend(enabled: true)
        let state = Mutex(try Self.state([.setFeature("K", scope: .component("kubelet"), enabled: false)]))
        let sampler = ScrapeSampler(
            factory: backend.factory,
            sources: .init(state: { state.withLock { $0 } }, registeredComponents: { ["kube-scheduler"] }, subscribers: { 3 })
        )
        sampler.sample()
        var text = String(decoding: backend.exposition(), as: UTF8.self)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "K", "component": "kubelet"]) == 0)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "A", "component": "kubelet"]) == 0)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "A", "component": "kube-scheduler"]) == 0)
        #expect(Self.value(text, "gatehouse_subscribers") == 3)

        try state.withLock { current in
            _ = try SubscriptionHubTests.commit([.setFeature("A", scope: .global, enabled: true), .removeFeature("K")], to: &current)
        }
        sampler.sample()
        text = String(decoding: backend.exposition(), as: UTF8.self)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "A", "component": "kube-scheduler"]) == 1)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "K", "component": "kubelet"]) == nil, "a removed feature's series goes")
        #expect(
            Self.value(text, "gatehouse_feature_enabled", ["feature": "A", "component": "kubelet"]) == nil,
            "kubelet is no longer named by the catalog nor registered"
        )
        #expect(Self.value(text, "gatehouse_revision") == Double(state.withLock { $0.revision.rawValue }))
    }

    @Test func groupSizesCountChangedBatchesUpToEachEndOfGroup() {
        let backend = MetricsBackend(enabled: true)
        let metrics = ServerMetrics(factory: backend.factory)
        let start = ServerMetrics.now()
        // A group of three (one of which changed nothing), then a group of two changed batches.
        metrics.completed(changed: true, endsGroup: false, since: start)
        metrics.completed(changed: false, endsGroup: false, since: start)
        metrics.completed(changed: true, endsGroup: true, since: start)
        metrics.completed(changed: true, endsGroup: false, since: start)
        metrics.completed(changed: true, endsGroup: true, since: start)
        // A group of nothing changed records no size.
        metrics.completed(changed: false, endsGroup: true, since: start)
        let text = String(decoding: backend.exposition(), as: UTF8.self)
        #expect(Self.value(text, "gatehouse_commit_group_size_count") == 2)
        #expect(Self.value(text, "gatehouse_commit_group_size_sum") == 4)
        #expect(Self.value(text, "gatehouse_commit_duration_seconds_count") == 4)
    }

    @Test func rolloutTransitionsAreCountedByThePhaseTheyReach() throws {
        let backend = MetricsBackend(enabled: true)
        let metrics = ServerMetrics(factory: backend.factory)
        var state = try Self.state([])
        func put(_ rollout: Rollout) throws {
            metrics.committed(try SubscriptionHubTests.commit([.putRollout(rollout)], to: &state))
        }
        _ = try SubscriptionHubTests.commit(SubscriptionHubRolloutTests.catalog.map(Change.defineFeature), to: &state)
        // Started, widened one step, rolled back: three transitions, two of them to running.
        try put(SubscriptionHubRolloutTests.rollout(step: 0, threshold: 0.1))
        try put(SubscriptionHubRolloutTests.rollout(step: 1, threshold: 0.5))
        try put(SubscriptionHubRolloutTests.rollout(step: 1, threshold: 0.5, phase: .rolledBack))
        // A batch without a rollout counts nothing.
        metrics.committed(try SubscriptionHubTests.commit([.setFeature("A", scope: .global, enabled: true)], to: &state))
        let text = String(decoding: backend.exposition(), as: UTF8.self)
        #expect(Self.value(text, "gatehouse_rollout_transitions_total", ["phase": "running"]) == 2)
        #expect(Self.value(text, "gatehouse_rollout_transitions_total", ["phase": "rolled_back"]) == 1)
        #expect(Self.value(text, "gatehouse_rollout_transitions_total", ["phase": "paused"]) == nil)
    }

    @Test func readinessFollowsThePhaseAndTheStoreCheck() async {
        let readiness = ServerReadiness()
        guard case .failing(let starting) = await readiness.readiness() else {
            Issue.record("ready before the store is open")
            return
        }
        #expect(starting.hasPrefix("starting"))
        readiness.moved(to: .serving)
        #expect(await readiness.readiness() == .ok)
        let problem = Mutex<String?>("etcd does not answer, so this server cannot commit: connection refused")
        readiness.checkStore { problem.withLock { $0 } }
        #expect(await readiness.readiness() == .failing("etcd does not answer, so this server cannot commit: connection refused"))
        problem.withLock { $0 = nil }
        #expect(await readiness.readiness() == .ok)
        readiness.moved(to: .draining)
        guard case .failing(let draining) = await readiness.readiness() else {
            Issue.record("ready while draining")
            return
        }
        #expect(draining.hasPrefix("shutting down"))
    }

    @Test func livenessAsksEveryEventLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        #expect(await ServerReadiness.loopsAnswer(group, within: .seconds(30)) == .ok)
        // A loop that is stuck (here: blocked on a semaphore) is reported by its index.
        let loops = Array(group.makeIterator())
        let release = DispatchSemaphore(value: 0)
        loops[1].execute { release.wait() }
        let verdict = await ServerReadiness.loopsAnswer(group, within: .milliseconds(200))
        release.signal()
        #expect(verdict == .failing("event loop 1 did not run a task within 0.2 seconds"))
        try await group.shutdownGracefully()
    }
}
