import Testing
@testable import GatehouseCore

@Suite("Kubernetes flag syntax")
struct FlagTests {
    @Test func featureGates() throws {
        let flag = try FeatureGatesFlag(parsing: "--feature-gates=A=true,B=false")
        #expect(flag.entries == [.init(feature: "A", enabled: true), .init(feature: "B", enabled: false)])
        #expect(flag.description == "A=true,B=false")
        #expect(try FeatureGatesFlag(parsing: " A = 1 , ,B=F,") == flag)
        #expect(try FeatureGatesFlag(parsing: "").entries.isEmpty)
        #expect(flag.changes(at: .component("kubelet")) == [
            .setFeature("A", scope: .component("kubelet"), enabled: true),
            .setFeature("B", scope: .component("kubelet"), enabled: false),
        ])
    }

    @Test(arguments: [
        ("A", "expected Name=true or Name=false in \"A\""),
        ("A=yes", "\"yes\" is not true or false"),
        ("=true", "\"\" is not a feature name"),
        ("A=true,A=false", "A is given more than once"),
        ("--runtime-config=A=true", "expected --feature-gates=<entries>"),
    ])
    func malformedFeatureGates(text: String, message: String) {
        do {
            _ = try FeatureGatesFlag(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func runtimeConfig() throws {
        let flag = try RuntimeConfigFlag(parsing: "--runtime-config=api/alpha=true,batch/v1beta1=false,apps/v1/deployments")
        #expect(flag.entries == [
            .init(selector: .stage(.alpha), enabled: true),
            .init(selector: .groupVersion(APIGroupVersion(group: "batch", version: "v1beta1")), enabled: false),
            .init(selector: .resource(APIRef(group: "apps", version: "v1", resource: "deployments")), enabled: true),
        ])
        #expect(flag.description == "api/alpha=true,batch/v1beta1=false,apps/v1/deployments=true")
        #expect(try RuntimeConfigFlag(parsing: "api/all=false,v1=true").entries.map(\.selector) == [.all, .groupVersion(APIGroupVersion(group: "", version: "v1"))])
    }

    @Test(arguments: ["api/omega=true", "batch=true", "batch/v1=maybe", "api/all,api/all=false", "--feature-gates=A=true"])
    func malformedRuntimeConfig(text: String) {
        #expect(throws: GateError.self) { try RuntimeConfigFlag(parsing: text) }
    }

    @Test func batchFromFlags() throws {
        let batch = try ChangeBatch.fromFlags(featureGates: "B=true", runtimeConfig: "api/beta=true", scope: .component("kubelet"), actor: "alice")
        #expect(batch.changes == [.setFeature("B", scope: .component("kubelet"), enabled: true), .setAPI(.stage(.beta), scope: .component("kubelet"), enabled: true)])
        let state = try BatchApplier().apply(batch, to: Fixtures.state, at: Fixtures.time, liveInstances: []).state
        #expect(state.revision == 2)
        #expect(throws: GateError.self) { try ChangeBatch.fromFlags(featureGates: "", scope: .global, actor: "a") }
    }
}
