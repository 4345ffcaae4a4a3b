import GatehouseCore
import PropertyBased
import Testing

/// Replaying and reverting batch summaries, which subscription resume relies on,
/// and the push deltas computed from two resolved states.
@Suite("Replay and push deltas")
struct ReplayTests {
    @Test func replayingASummaryGivesTheApplierResultAndRevertingGivesTheStateBefore() async {
        await propertyCheck(count: 300, input: Scenario.generator) { scenario in
            guard let applied = try? BatchApplier().apply(scenario.nextBatch, to: scenario.state, at: UnixMilliseconds(7), liveInstances: scenario.instances)
            else { return }
            let summary = applied.summary
            guard !summary.changes.isEmpty else { return }
            #expect(scenario.state.replaying(summary) == applied.state)
            #expect(applied.state.reverting(summary) == scenario.state)
        }
    }

    @Test func deltaOfEqualStatesIsEmptyAndDeltaCarriesOnlyWhatChanged() {
        let feature = FeatureDefinition(name: "Alpha", stage: .alpha, defaultEnabled: false)
        let other = FeatureDefinition(name: "Beta", stage: .beta, defaultEnabled: true)
        let state = GateState(
            revision: 3,
            features: [Revisioned(feature, revision: 1), Revisioned(other, revision: 1)],
            apis: [],
            featureOverrides: [],
            apiOverrides: []
        )
        let instance = InstanceRef(component: "kubelet", instanceID: "node-1", version: nil)
        let before = PushState(Resolver(state: state).resolve(instance), in: state)
        #expect(before.delta(from: before).isEmpty)
        #expect(before.features["Alpha"]?.stage == .alpha)

        let stamp = ChangeStamp(revision: 4, actor: "t", reason: "", time: UnixMilliseconds(0))
        let next = GateState(
            revision: 4,
            features: [Revisioned(feature, revision: 1), Revisioned(other, revision: 1)],
            apis: [],
            featureOverrides: [FeatureOverride(feature: "Alpha", scope: .component("kubelet"), enabled: true, stamp: stamp)],
            apiOverrides: []
        )
        let after = PushState(Resolver(state: next).resolve(instance), in: next)
        let delta = after.delta(from: before)
        #expect(delta.baseRevision == 3)
        #expect(delta.revision == 4)
        #expect(delta.features.map(\.name) == ["Alpha"])
        #expect(delta.features.first?.enabled == true)
        #expect(delta.removedFeatures.isEmpty)

        // The same value decided by a newer override is not a change for the subscriber.
        let restamped = ChangeStamp(revision: 5, actor: "t", reason: "again", time: UnixMilliseconds(1))
        let rewritten = GateState(
            revision: 5,
            features: [Revisioned(feature, revision: 1), Revisioned(other, revision: 1)],
            apis: [],
            featureOverrides: [FeatureOverride(feature: "Alpha", scope: .component("kubelet"), enabled: true, stamp: restamped)],
            apiOverrides: []
        )
        #expect(PushState(Resolver(state: rewritten).resolve(instance), in: rewritten).delta(from: after).isEmpty)

        // A feature that disappears is listed as removed.
        let removed = GateState(revision: 6, features: [Revisioned(other, revision: 1)], apis: [], featureOverrides: [], apiOverrides: [])
        #expect(PushState(Resolver(state: removed).resolve(instance), in: removed).delta(from: after).removedFeatures == ["Alpha"])
    }

    @Test func hasOverridesLooksAtExactlyOneScope() {
        let stamp = ChangeStamp(revision: 1, actor: "t", reason: "", time: UnixMilliseconds(0))
        let state = GateState(
            revision: 1,
            features: [Revisioned(FeatureDefinition(name: "A", stage: .beta, defaultEnabled: false), revision: 1)],
            apis: [],
            featureOverrides: [FeatureOverride(feature: "A", scope: .instance(component: "kubelet", id: "n1"), enabled: true, stamp: stamp)],
            apiOverrides: []
        )
        #expect(state.hasOverrides(at: .instance(component: "kubelet", id: "n1")))
        #expect(!state.hasOverrides(at: .instance(component: "kubelet", id: "n2")))
        #expect(!state.hasOverrides(at: .component("kubelet")))
    }
}
