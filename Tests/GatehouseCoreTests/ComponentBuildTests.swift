import GatehouseCore
import Testing

/// The catalog's record of which component builds know which features.
@Suite struct ComponentBuildTests {
    @Test func aBuildIsRecordedOnceAndFoundByTheFeaturesItKnows() throws {
        let catalog = Catalog(features: [FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false)], apis: [])
        let initial = try BatchApplier().apply(.importing(catalog, actor: "admin"), to: GateState(), at: UnixMilliseconds(0), liveInstances: []).state
        let build = ComponentBuild(component: "kubelet", version: "1.31.0", features: ["B", "A", "A"], apis: [APIRef(group: "batch", version: "v1")])
        #expect(build.features == ["A", "B"] && build.apis == ["batch/v1"])

        let recorded = try BatchApplier().apply(ChangeBatch(changes: [.recordBuild(build)], actor: "kubelet"), to: initial, at: UnixMilliseconds(1), liveInstances: [])
        #expect(recorded.summary.changes.map(\.key) == [.componentBuild(build.key)])
        #expect(recorded.state.builds(knowing: "A") == [ComponentBuildKey(component: "kubelet", version: "1.31.0")])
        #expect(recorded.state.builds[build.key]?.revision == recorded.state.revision)
        #expect(Resolver(state: recorded.state).resolve(scope: .component("kubelet")) == Resolver(state: initial).resolve(scope: .component("kubelet")).with(revision: recorded.state.revision))

        let again = try BatchApplier().apply(ChangeBatch(changes: [.recordBuild(build)], actor: "kubelet"), to: recorded.state, at: UnixMilliseconds(2), liveInstances: [])
        #expect(again.summary.changes.isEmpty, "the same build registering again changes nothing")
        #expect(initial.replaying(recorded.summary) == recorded.state)
        #expect(recorded.state.reverting(recorded.summary) == initial)
    }
}

extension EffectiveState {
    fileprivate func with(revision: Revision) -> EffectiveState {
        var copy = self
        copy.revision = revision
        return copy
    }
}
