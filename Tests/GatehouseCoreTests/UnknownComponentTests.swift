import Testing
@testable import GatehouseCore

/// An override for a component nothing knows is most likely a typo, which would otherwise be stored and never read.
@Suite("Unknown components")
struct UnknownComponentTests {
    func refusal(_ changes: [Change], to state: GateState, allowing: Bool = false) -> GateError? {
        do {
            _ = try BatchApplier().apply(
                ChangeBatch(changes: changes, reason: "t", actor: "alice", allowsUnknownComponents: allowing),
                to: state, at: Fixtures.time, liveInstances: []
            )
            return nil
        } catch {
            return error
        }
    }

    @Test func aComponentNoDefinitionNamesAndNoBuildRegisteredIsRefusedWithASuggestion() throws {
        let error = try #require(self.refusal([.setFeature("B", scope: .component("kublet"), enabled: true)], to: Fixtures.state))
        #expect(error.reason == .unknownComponent)
        #expect(error.code == .notFound)
        #expect(error.metadata == ["component": "kublet", "scope": "component/kublet"])
        #expect(error.message.contains("did you mean kubelet?"))
        #expect(error.message.contains("--force"))
        let instance = self.refusal([.setAPI(.stage(.beta), scope: .instance(component: "etcd", id: "e1"), enabled: true)], to: Fixtures.state)
        #expect(instance?.reason == .unknownComponent)
        #expect(instance?.message.contains("did you mean") == false, "nothing close to etcd is known")
    }

    @Test func aComponentWithAConnectedReplicaIsKnown() throws {
        let live = LiveReplicas([InstanceRef(component: "etcd-operator", instanceID: "op-1", version: Version(1, 0))])
        _ = try BatchApplier().apply(
            ChangeBatch(changes: [.setFeature("B", scope: .component("etcd-operator"), enabled: true)], actor: "alice"),
            to: Fixtures.state, at: Fixtures.time, live: live
        )
    }

    @Test func forceLetsItThrough() {
        #expect(self.refusal([.setFeature("B", scope: .component("kublet"), enabled: true)], to: Fixtures.state, allowing: true) == nil)
    }

    @Test func aComponentIsKnownByTheCatalogARegisteredBuildOrAnExistingOverride() throws {
        #expect(self.refusal([.setFeature("B", scope: .component("kubelet"), enabled: true)], to: Fixtures.state) == nil, "feature K names kubelet")
        let registered = try Fixtures.apply([.recordBuild(ComponentBuild(component: "etcd-operator", version: "3.5", features: [], apis: []))], to: Fixtures.state)
        #expect(self.refusal([.setFeature("B", scope: .component("etcd-operator"), enabled: true)], to: registered) == nil)
        let forced = try BatchApplier().apply(
            ChangeBatch(changes: [.setFeature("B", scope: .component("future"), enabled: true)], actor: "a", allowsUnknownComponents: true),
            to: Fixtures.state, at: Fixtures.time, liveInstances: []
        ).state
        #expect(self.refusal([.setFeature("D", scope: .component("future"), enabled: false)], to: forced) == nil, "an override there makes it known")
    }

    @Test func removalsAndGlobalChangesAreNeverRefusedForTheirComponent() {
        #expect(self.refusal([.clearFeature("B", scope: .component("nothing-here"))], to: Fixtures.state) == nil)
        #expect(self.refusal([.setFeature("B", scope: .global, enabled: true)], to: Fixtures.state) == nil)
    }

    @Test func unknownFeaturesAreSuggestedTheClosestName() {
        let error = self.refusal([.setFeature("b", scope: .global, enabled: true)], to: Fixtures.state)
        #expect(error?.reason == .unknownFeature)
        let typo = self.refusal([.setFeature("Kx", scope: .component("kubelet"), enabled: true)], to: Fixtures.state)
        #expect(typo?.message.hasSuffix("did you mean K?") == true)
    }
}
