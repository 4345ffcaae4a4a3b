import Testing
@testable import GatehouseSDK

@Suite("State snapshot reads")
struct StateSnapshotTests {
    func view(_ cache: EffectiveCache, defaults: CompiledDefaults = CompiledDefaults(features: [], apis: [])) -> StateSnapshot {
        StateSnapshot(cache: cache, defaults: defaults, origin: .server, isStale: false, failingClosed: false, policy: OfflinePolicy())
    }

    @Test("unknown features and APIs read false")
    func unknown() throws {
        let snapshot = self.view(try EffectiveCache.from(sampleSnapshot()))
        #expect(!snapshot.isEnabled("NoSuchGate"))
        #expect(!snapshot.isServed("nosuch.io/v1"))
        #expect(snapshot.parameter("mode", of: "NoSuchGate") == nil)
    }

    @Test("a resource follows its group/version unless it has an entry of its own")
    func resourceFallback() throws {
        let snapshot = self.view(try EffectiveCache.from(sampleSnapshot()))
        #expect(snapshot.isServed("apps/v1"))
        #expect(!snapshot.isServed("apps/v1/deployments"), "its own entry says off")
        #expect(snapshot.isServed("apps/v1/statefulsets"), "no entry: follows apps/v1")
        #expect(snapshot.isServed("batch/v1beta1/cronjobs"))
        #expect(!snapshot.isServed("batch"))
    }

    @Test("the core group is spelled v1")
    func coreGroup() throws {
        let defaults = CompiledDefaults(features: [], apis: [try KnownAPI("v1", stage: .ga)])
        let snapshot = self.view(EffectiveCache(), defaults: defaults)
        #expect(snapshot.isServed("v1"))
        #expect(snapshot.isServed("v1/pods"))
    }

    @Test("server state overlays the compiled defaults; known entries the server lacks keep their default")
    func overlay() throws {
        let defaults = CompiledDefaults(
            features: [
                KnownFeature("BetaThing", stage: .beta, defaultEnabled: false),
                KnownFeature("OnlyCompiled", stage: .beta, defaultEnabled: true, defaultParameters: ["n": .int(3)]),
            ],
            apis: [try KnownAPI("storage.k8s.io/v1beta1", stage: .beta, defaultEnabled: true)]
        )
        let snapshot = self.view(try EffectiveCache.from(sampleSnapshot()), defaults: defaults)
        #expect(snapshot.isEnabled("BetaThing"), "the server wins")
        #expect(snapshot.isEnabled("OnlyCompiled"))
        #expect(snapshot.parameter("n", of: "OnlyCompiled") == .int(3))
        #expect(snapshot.isServed("storage.k8s.io/v1beta1"))
    }

    @Test("changes list added, changed and removed entries, sorted")
    func changes() throws {
        let before = self.view(try EffectiveCache.from(sampleSnapshot(revision: 10)))
        let after = self.view(try EffectiveCache.from(sampleSnapshot(revision: 10)).applying(.with {
            $0.baseRevision = 10
            $0.revision = 11
            $0.features = [wireFeature("BetaThing", false, .beta), wireFeature("Added", true, .ga)]
            $0.removedFeatures = ["AlphaThing"]
            $0.removedApis = [.with { $0.group = "batch"; $0.version = "v1beta1" }]
        }))
        let (features, apis) = after.changes(since: before)
        #expect(features.map(\.name) == ["Added", "AlphaThing", "BetaThing"])
        #expect(features[0].before == nil && features[0].after?.enabled == true)
        #expect(features[1].after == nil)
        #expect(apis.map(\.api) == ["batch/v1beta1"])
        #expect(after.changes(since: after).features.isEmpty)
    }
}
