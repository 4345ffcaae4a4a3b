import Testing
@testable import GatehouseSDK

@Suite("Offline policy")
struct OfflinePolicyTests {
    let defaults = CompiledDefaults(features: [], apis: [])

    @Test("the TTL expires at, not before, its duration")
    func ttl() {
        let policy = OfflinePolicy(ttl: .seconds(300))
        #expect(!policy.isExpired(offlineFor: .seconds(299)))
        #expect(policy.isExpired(offlineFor: .seconds(300)))
    }

    @Test("failing closed turns alpha features and APIs off and keeps beta, GA and deprecated")
    func failClosed() throws {
        let cache = try EffectiveCache.from(sampleSnapshot())
        let policy = OfflinePolicy(ttl: .seconds(300))
        let stale = StateSnapshot(cache: cache, defaults: self.defaults, origin: .server, isStale: true, failingClosed: false, policy: policy)
        #expect(stale.isEnabled("AlphaThing"), "within the TTL the last state holds")
        #expect(stale.isServed("example.io/v1alpha1"))

        let closed = StateSnapshot(cache: cache, defaults: self.defaults, origin: .server, isStale: true, failingClosed: true, policy: policy)
        #expect(!closed.isEnabled("AlphaThing"))
        #expect(closed.parameter("mode", of: "AlphaThing") == .enumValue("fast"), "parameters are kept")
        #expect(closed.isEnabled("BetaThing"))
        #expect(closed.isEnabled("GAThing"))
        #expect(!closed.isServed("example.io/v1alpha1"))
        #expect(closed.isServed("batch/v1beta1"))
        #expect(closed.isServed("apps/v1"))
        let (features, apis) = closed.changes(since: stale)
        #expect(features.map(\.name) == ["AlphaThing"])
        #expect(apis.map(\.api) == ["example.io/v1alpha1"])
        #expect(features.first?.before?.enabled == true && features.first?.after?.enabled == false)
    }

    @Test("per-entry choices beat the stage rule")
    func perEntry() throws {
        let cache = try EffectiveCache.from(sampleSnapshot())
        let policy = OfflinePolicy(
            ttl: .seconds(1),
            features: ["AlphaThing": .keepLastState, "BetaThing": .failClosed],
            apis: [APIRef(group: "batch", version: "v1beta1"): .failClosed]
        )
        let closed = StateSnapshot(cache: cache, defaults: self.defaults, origin: .server, isStale: true, failingClosed: true, policy: policy)
        #expect(closed.isEnabled("AlphaThing"))
        #expect(!closed.isEnabled("BetaThing"))
        #expect(!closed.isServed("batch/v1beta1"))
        #expect(!closed.isServed("example.io/v1alpha1"))
    }

    @Test("the configuration's policy takes per-entry choices from the known features and APIs")
    func fromConfiguration() throws {
        let configuration = GatehouseComponent.Configuration(
            endpoints: [],
            tls: .init(certificateChainPath: "", privateKeyPath: "", trustRootsPath: ""),
            identity: .init(component: "c", instanceID: "i", version: "1.0.0"),
            features: [KnownFeature("Keep", stage: .alpha, defaultEnabled: true, offlineBehavior: .keepLastState)],
            apis: [try KnownAPI("batch/v1", stage: .ga, offlineBehavior: .failClosed)],
            offlineTTL: .seconds(42)
        )
        let policy = configuration.offlinePolicy
        #expect(policy.ttl == .seconds(42))
        #expect(policy.behavior(ofFeature: "Keep", stage: .alpha) == .keepLastState)
        #expect(policy.behavior(ofFeature: "Other", stage: .alpha) == .failClosed)
        #expect(policy.behavior(ofAPI: APIRef(group: "batch", version: "v1"), stage: .ga) == .failClosed)
    }
}
