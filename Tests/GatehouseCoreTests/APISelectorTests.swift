import Testing
@testable import GatehouseCore

@Suite("APIs and selectors")
struct APISelectorTests {
    @Test(arguments: [
        ("batch/v1beta1", APIRef(group: "batch", version: "v1beta1")),
        ("apps/v1/deployments", APIRef(group: "apps", version: "v1", resource: "deployments")),
        ("v1", APIRef(group: "", version: "v1")),
        ("api/v1", APIRef(group: "", version: "v1")),
        ("v1/pods", APIRef(group: "", version: "v1", resource: "pods")),
        ("resource.k8s.io/v1alpha3", APIRef(group: "resource.k8s.io", version: "v1alpha3")),
    ])
    func parsesRefs(text: String, expected: APIRef) throws {
        let ref = try APIRef(parsing: text)
        #expect(ref == expected)
        #expect(try APIRef(parsing: ref.description) == ref)
    }

    @Test(arguments: ["", "batch", "batch/", "batch/one", "a/v1/b/c", "batch/v1 beta1", "batch//v1", "batch/v1alpha"])
    func refusesMalformedRefs(text: String) {
        #expect(throws: GateError.self) { try APIRef(parsing: text) }
    }

    @Test func parsesSelectors() throws {
        #expect(try APISelector(parsing: "api/all") == .all)
        #expect(try APISelector(parsing: "api/alpha") == .stage(.alpha))
        #expect(try APISelector(parsing: "api/beta") == .stage(.beta))
        #expect(try APISelector(parsing: "api/ga") == .stage(.ga))
        #expect(try APISelector(parsing: "api/legacy") == .groupVersion(APIGroupVersion(group: "", version: "v1")))
        #expect(try APISelector(parsing: "batch/v1") == .groupVersion(APIGroupVersion(group: "batch", version: "v1")))
        #expect(try APISelector(parsing: "apps/v1/deployments") == .resource(APIRef(group: "apps", version: "v1", resource: "deployments")))
        #expect(throws: GateError.self) { try APISelector(parsing: "api/omega") }
    }

    @Test func specificityAndMatching() {
        let deployments = APIDefinition(APIRef(group: "apps", version: "v1", resource: "deployments"), stage: .ga)
        let appsV1 = APIDefinition(APIRef(group: "apps", version: "v1"), stage: .ga)
        let selectors: [APISelector] = [.resource(deployments.ref), .groupVersion(appsV1.ref.groupVersion), .stage(.ga), .all]
        #expect(selectors.map(\.specificity) == [3, 2, 1, 0])
        #expect(selectors.allSatisfy { $0.matches(deployments) })
        #expect(!APISelector.resource(deployments.ref).matches(appsV1), "a resource selector does not cover its group/version")
        #expect(!APISelector.stage(.beta).matches(appsV1))
        #expect(APISelector.candidates(for: deployments) == selectors)
    }

    @Test func stageDefaultsFollowKubernetes() {
        #expect(APIDefinition(APIRef(group: "a", version: "v1"), stage: .ga).effectiveDefault)
        #expect(!APIDefinition(APIRef(group: "a", version: "v1beta1"), stage: .beta).effectiveDefault)
        #expect(!APIDefinition(APIRef(group: "a", version: "v1alpha1"), stage: .alpha).effectiveDefault)
        #expect(APIDefinition(APIRef(group: "a", version: "v1beta1"), stage: .deprecated).effectiveDefault)
        #expect(!APIDefinition(APIRef(group: "a", version: "v1beta1"), stage: .deprecated, defaultEnabled: false).effectiveDefault)
        #expect(APIDefinition(APIRef(group: "a", version: "v1beta1"), stage: .beta, defaultEnabled: true).effectiveDefault)
    }

    @Test func scopesRoundTripTheirKeys() throws {
        for scope in [Scope.global, .component("kubelet"), .instance(component: "kubelet", id: "node-1")] {
            #expect(try Scope(parsing: scope.key) == scope)
        }
        #expect(throws: GateError.self) { try Scope(parsing: "component/") }
        #expect(throws: GateError.self) { try Scope(parsing: "cluster") }
    }
}
