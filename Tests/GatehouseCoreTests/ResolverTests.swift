import Testing
@testable import GatehouseCore

@Suite("Resolution")
struct ResolverTests {
    let node = Fixtures.node("node-1")
    let other = Fixtures.node("node-2")

    func feature(_ name: String, in state: GateState, for instance: InstanceRef) -> ResolvedFeature {
        Resolver(state: state).resolve(instance).features[name]!
    }

    @Test func defaultsWhenNothingIsSet() {
        let resolved = Resolver(state: Fixtures.state).resolve(node)
        #expect(resolved.features["B"] == ResolvedFeature(name: "B", enabled: false, reason: .defaultValue))
        #expect(resolved.features["F"]?.enabled == true)
        #expect(resolved.features["C"]?.reason == .locked)
        #expect(resolved.revision == 1)
        #expect(resolved.scope == .instance(component: "kubelet", id: "node-1"))
    }

    @Test func instanceBeatsComponentBeatsGlobalBeatsDefault() throws {
        var state = try Fixtures.apply([.setFeature("B", scope: .global, enabled: true)], to: Fixtures.state)
        #expect(feature("B", in: state, for: node).reason == .override(.global, revision: 2))
        #expect(feature("B", in: state, for: node).enabled)

        state = try Fixtures.apply([.setFeature("B", scope: .component("kubelet"), enabled: false)], to: state)
        #expect(feature("B", in: state, for: node) == ResolvedFeature(name: "B", enabled: false, reason: .override(.component("kubelet"), revision: 3)))
        #expect(feature("B", in: state, for: Fixtures.node("cm-1", component: Fixtures.controllerManager)).enabled, "other components keep the global value")

        state = try Fixtures.apply([.setFeature("B", scope: .instance(component: "kubelet", id: "node-1"), enabled: true)], to: state)
        #expect(feature("B", in: state, for: node).reason == .override(.instance(component: "kubelet", id: "node-1"), revision: 4))
        #expect(feature("B", in: state, for: node).enabled)
        #expect(!feature("B", in: state, for: other).enabled, "other instances keep the component value")

        state = try Fixtures.apply([.clearFeature("B", scope: .component("kubelet"))], to: state)
        #expect(feature("B", in: state, for: other).reason == .override(.global, revision: 2))
    }

    @Test func parameterOnlyOverrideLeavesTheValueToWiderScopes() throws {
        let state = try Fixtures.apply([
            .setFeature("D", scope: .global, enabled: nil, parameters: ["n": .int(7), "m": .enumValue("fast")]),
            .setFeature("D", scope: .instance(component: "kubelet", id: "node-1"), enabled: nil, parameters: ["n": .int(9)]),
        ], to: Fixtures.state)
        let resolved = feature("D", in: state, for: node)
        #expect(resolved.enabled)
        #expect(resolved.reason == .defaultValue)
        #expect(resolved.parameters == ["n": .int(9), "m": .enumValue("fast"), "s": .string("abc"), "t": .durationMs(1000), "b": .bool(false)])
        #expect(resolved.parameterReasons["n"] == .override(.instance(component: "kubelet", id: "node-1"), revision: 2))
        #expect(resolved.parameterReasons["m"] == .override(.global, revision: 2))
        #expect(resolved.parameterReasons["s"] == .defaultValue)
        #expect(feature("D", in: state, for: other).parameters["n"] == .int(7))
    }

    @Test func lockedFeaturesIgnoreOverrides() {
        // Built directly: the applier would refuse this override.
        var state = Fixtures.state
        let stamp = ChangeStamp(revision: 2, actor: "x", reason: "", time: Fixtures.time)
        state.setFeatureOverride(FeatureOverride(feature: "C", scope: .global, enabled: false, stamp: stamp), forKey: FeatureOverrideKey(feature: "C", scope: .global))
        #expect(feature("C", in: state, for: node) == ResolvedFeature(name: "C", enabled: true, reason: .locked))
    }

    @Test func dependenciesTurnFeaturesOffTransitively() throws {
        // G needs A needs B: built directly, as the applier refuses the unmet dependency.
        var state = Fixtures.state
        state.setFeature(Revisioned(FeatureDefinition(name: "G", stage: .alpha, defaultEnabled: true, dependencies: ["A"]), revision: 1), named: "G")
        let stamp = ChangeStamp(revision: 2, actor: "x", reason: "", time: Fixtures.time)
        state.setFeatureOverride(FeatureOverride(feature: "A", scope: .global, enabled: true, stamp: stamp), forKey: FeatureOverrideKey(feature: "A", scope: .global))
        let resolved = Resolver(state: state).resolve(node)
        #expect(resolved.features["A"] == ResolvedFeature(name: "A", enabled: false, reason: .dependencyDisabled("B")))
        #expect(resolved.features["G"] == ResolvedFeature(name: "G", enabled: false, reason: .dependencyDisabled("A")))
        #expect(resolved.features["A"]?.reason.description == "needs B, which is disabled")
    }

    @Test func dependencyCyclesDoNotHang() {
        let state = GateState(
            revision: 1,
            features: [
                Revisioned(FeatureDefinition(name: "X", stage: .beta, defaultEnabled: true, dependencies: ["Y"]), revision: 1),
                Revisioned(FeatureDefinition(name: "Y", stage: .beta, defaultEnabled: true, dependencies: ["X"]), revision: 1),
                Revisioned(FeatureDefinition(name: "Z", stage: .beta, defaultEnabled: true, dependencies: ["Ghost"]), revision: 1),
            ],
            apis: [],
            featureOverrides: [],
            apiOverrides: []
        )
        let resolved = Resolver(state: state).resolve(node)
        #expect(resolved.features.values.filter(\.enabled).isEmpty, "a cycle or an unknown dependency counts as disabled")
        #expect(resolved.features["Z"]?.reason == .dependencyDisabled("Ghost"))
    }

    @Test func oldReplicasResolveVersionGatedFeaturesOff() throws {
        let state = try Fixtures.apply([.setFeature("K", scope: .global, enabled: true)], to: Fixtures.state)
        let old = Fixtures.node("old", Version(1, 30, 9))
        #expect(feature("K", in: state, for: old) == ResolvedFeature(
            name: "K", enabled: false, reason: .versionTooOld(component: "kubelet", minimum: Version(1, 31), actual: Version(1, 30, 9))))
        #expect(feature("K", in: state, for: node).enabled)
        #expect(feature("K", in: state, for: Fixtures.node("unknown", nil)).enabled, "no version, no skew rule")
        #expect(Resolver(state: state).resolve(Fixtures.node("cm", component: Fixtures.controllerManager)).features["K"] == nil, "K applies to kubelet only")
    }

    @Test func apiSelectorsMostSpecificWinsWithinAScope() throws {
        let deployments = APIRef(group: "apps", version: "v1", resource: "deployments")
        let appsV1 = APIRef(group: "apps", version: "v1")
        var state = try Fixtures.apply([
            .setAPI(.all, scope: .global, enabled: false),
            .setAPI(.stage(.ga), scope: .global, enabled: true),
            .setAPI(.groupVersion(appsV1.groupVersion), scope: .global, enabled: false),
            .setAPI(.resource(deployments), scope: .global, enabled: true),
        ], to: Fixtures.state)
        var apis = Resolver(state: state).resolve(node).apis
        #expect(apis[deployments] == ResolvedAPI(ref: deployments, enabled: true, reason: .apiSelector(.global, .resource(deployments), revision: 2)))
        #expect(apis[appsV1] == ResolvedAPI(ref: appsV1, enabled: false, reason: .apiSelector(.global, .groupVersion(appsV1.groupVersion), revision: 2)))
        #expect(apis[APIRef(group: "batch", version: "v1")]?.reason == .apiSelector(.global, .stage(.ga), revision: 2))
        #expect(apis[APIRef(group: "batch", version: "v1beta1")]?.reason == .apiSelector(.global, .all, revision: 2))
        #expect(apis[APIRef(group: "batch", version: "v1beta1")]?.enabled == false)

        // A narrower scope wins even with a less specific selector.
        state = try Fixtures.apply([.setAPI(.all, scope: .component("kubelet"), enabled: true)], to: state)
        apis = Resolver(state: state).resolve(node).apis
        #expect(apis[appsV1]?.enabled == true)
        #expect(apis[appsV1]?.reason == .apiSelector(.component("kubelet"), .all, revision: 3))
    }

    @Test func apiStageDefaults() {
        let apis = Resolver(state: Fixtures.state).resolve(node).apis
        #expect(apis[APIRef(group: "batch", version: "v1")] == ResolvedAPI(ref: APIRef(group: "batch", version: "v1"), enabled: true, reason: .stageDefault(.ga)))
        #expect(apis[APIRef(group: "batch", version: "v1beta1")]?.enabled == false)
        #expect(apis[APIRef(group: "resource.k8s.io", version: "v1alpha3")]?.enabled == false)
        #expect(apis[APIRef(group: "extensions", version: "v1beta1")]?.enabled == true)
        #expect(apis[APIRef(group: "policy", version: "v1beta1")] == ResolvedAPI(ref: APIRef(group: "policy", version: "v1beta1"), enabled: true, reason: .defaultValue))
    }

    @Test func scopeResolution() throws {
        let state = try Fixtures.apply([.setFeature("B", scope: .component("kubelet"), enabled: true)], to: Fixtures.state)
        let resolver = Resolver(state: state)
        #expect(resolver.resolve(scope: .global).features["B"]?.enabled == false)
        #expect(resolver.resolve(scope: .global).features.count == Fixtures.catalog.features.count)
        #expect(resolver.resolve(scope: .component("kubelet")).features["B"]?.enabled == true)
        #expect(resolver.resolve(scope: .component(Fixtures.controllerManager)).features["K"] == nil)
    }

    @Test func reasonsReadWell() {
        #expect(Reason.override(.component("kubelet"), revision: 1042).description == "component kubelet override at r1042")
        #expect(Reason.apiSelector(.global, .stage(.beta), revision: 3).description == "global override api/beta at r3")
        #expect(Reason.stageDefault(.ga).description == "default for a GA API")
        #expect(Reason.versionTooOld(component: "kubelet", minimum: Version(1, 31), actual: Version(1, 30, 2)).description
            == "needs kubelet 1.31.0 or newer, this replica runs 1.30.2")
    }

    @Test func kubernetesCatalogResolves() throws {
        let state = try BatchApplier().apply(.importing(KubernetesCatalog.catalog, actor: "admin"), to: GateState(), at: Fixtures.time, liveInstances: []).state
        let resolver = Resolver(state: state)
        let kubelet = resolver.resolve(InstanceRef(component: "kubelet", instanceID: "node-1", version: Version(1, 32, 0)))
        #expect(kubelet.features["SidecarContainers"]?.enabled == true)
        #expect(kubelet.features["InPlacePodVerticalScaling"]?.enabled == false)
        #expect(kubelet.features["JobPodFailurePolicy"] == nil, "a controller-manager gate")
        #expect(kubelet.apis.isEmpty, "kubelet serves no API")
        let apiserver = resolver.resolve(InstanceRef(component: "kube-apiserver", instanceID: "a", version: Version(1, 32, 0)))
        #expect(apiserver.features["JobPodFailurePolicy"]?.reason == .locked)
        #expect(apiserver.apis[APIRef(group: "batch", version: "v1beta1")]?.enabled == false)
        #expect(apiserver.apis[APIRef(group: "resource.k8s.io", version: "v1alpha3")]?.enabled == false)
        #expect(apiserver.apis[APIRef(group: "flowcontrol.apiserver.k8s.io", version: "v1")]?.enabled == true)
        #expect(KubernetesCatalog.features.count >= 60)
    }
}
