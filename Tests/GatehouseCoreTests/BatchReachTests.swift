import Testing

@testable import GatehouseCore

/// Which resolutions a batch can change, from the scopes it wrote.
@Suite struct BatchReachTests {
    static func reach(_ keys: [ObjectKey]) -> BatchReach {
        BatchReach(BatchSummary(revision: Revision(1), changes: keys.map { ObjectChange(key: $0, before: nil, after: nil) }))
    }

    static func feature(_ scope: Scope) -> ObjectKey {
        .featureOverride(FeatureOverrideKey(feature: "A", scope: scope))
    }

    @Test func anInstanceOverrideReachesThatInstanceOnly() {
        let reach = Self.reach([Self.feature(.instance(component: "kubelet", id: "n1"))])
        #expect(reach.affects(component: "kubelet", instanceID: "n1"))
        #expect(!reach.affects(component: "kubelet", instanceID: "n2"))
        #expect(!reach.affects(component: "kubelet", instanceID: ""), "instances without overrides of their own")
        #expect(!reach.affects(component: "kube-proxy", instanceID: "n1"))
    }

    @Test func aComponentOverrideReachesEveryInstanceOfIt() {
        let reach = Self.reach([.apiOverride(APIOverrideKey(selector: .all, scope: .component("kubelet")))])
        #expect(reach.affects(component: "kubelet", instanceID: ""))
        #expect(reach.affects(component: "kubelet", instanceID: "n7"))
        #expect(!reach.affects(component: "kube-apiserver", instanceID: ""))
    }

    @Test func globalOverridesAndCatalogChangesReachEverything() {
        for key in [Self.feature(.global), .feature("A"), .api(APIRef(group: "batch", version: "v1"))] {
            #expect(Self.reach([key]).affects(component: "anything", instanceID: "any"))
        }
    }

    @Test func aRecordedBuildReachesNothing() {
        let reach = Self.reach([.componentBuild(ComponentBuildKey(component: "kubelet", version: "1.31.0"))])
        #expect(!reach.affects(component: "kubelet", instanceID: ""))
        #expect(reach == Self.reach([]))
    }
}
