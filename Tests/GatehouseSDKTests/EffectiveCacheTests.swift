import GatehouseProto
import Testing
@testable import GatehouseSDK

@Suite("Effective cache: snapshots and deltas")
struct EffectiveCacheTests {
    @Test("a snapshot replaces everything, with stages and parameters")
    func snapshot() throws {
        let cache = try EffectiveCache.from(sampleSnapshot(revision: 10))
        #expect(cache.revision == 10)
        #expect(cache.features["AlphaThing"] == FeatureState(enabled: true, parameters: ["mode": .enumValue("fast")], stage: .alpha))
        #expect(cache.features["GAThing"]?.stage == .ga)
        #expect(cache.apis[APIRef(group: "batch", version: "v1beta1")] == APIState(ref: APIRef(group: "batch", version: "v1beta1"), enabled: true, stage: .beta))
        #expect(cache.apis[APIRef(group: "apps", version: "v1", resource: "deployments")]?.enabled == false)
        #expect(cache.apis.count == 4)
    }

    @Test("deltas apply in order when each follows on from the last revision")
    func deltas() throws {
        var cache = try EffectiveCache.from(sampleSnapshot(revision: 10))
        cache = try cache.applying(.with {
            $0.baseRevision = 10
            $0.revision = 12
            $0.features = [wireFeature("BetaThing", false, .beta), wireFeature("NewThing", true, .alpha)]
            $0.apis = [wireAPI("batch", "v1beta1", "", false, .beta)]
        })
        #expect(cache.revision == 12)
        #expect(cache.features["BetaThing"]?.enabled == false)
        #expect(cache.features["NewThing"]?.enabled == true)
        #expect(cache.features["GAThing"]?.enabled == true, "untouched entries stay")
        #expect(cache.apis[APIRef(group: "batch", version: "v1beta1")]?.enabled == false)
        cache = try cache.applying(.with {
            $0.baseRevision = 12
            $0.revision = 13
            $0.features = [wireFeature("AlphaThing", true, .alpha, params: ["mode": .with { $0.enumValue = "slow" }])]
        })
        #expect(cache.revision == 13)
        #expect(cache.features["AlphaThing"]?.parameters["mode"] == .enumValue("slow"))
    }

    @Test("a delta based on a later revision than the one held, or a replay, is refused and changes nothing")
    func wrongBase() throws {
        let cache = try EffectiveCache.from(sampleSnapshot(revision: 10))
        let delta = Gatehouse_V1_Delta.with {
            $0.baseRevision = 11
            $0.revision = 12
            $0.features = [wireFeature("BetaThing", false, .beta)]
        }
        #expect(throws: EffectiveCache.ApplyError.baseRevisionMismatch(held: 10, base: 11)) {
            try cache.applying(delta)
        }
        #expect(cache.features["BetaThing"]?.enabled == true)
        // A delta from the past (a replay) is refused as well.
        #expect(throws: EffectiveCache.ApplyError.baseRevisionMismatch(held: 10, base: 9)) {
            try cache.applying(.with { $0.baseRevision = 9; $0.revision = 10 })
        }
    }

    @Test("a delta based on an earlier revision applies: nothing changed for this instance in between")
    func sharedDeltaAfterALaterSnapshot() throws {
        let cache = try EffectiveCache.from(sampleSnapshot(revision: 10))
        let next = try cache.applying(.with {
            $0.baseRevision = 7
            $0.revision = 11
            $0.features = [wireFeature("BetaThing", false, .beta)]
        })
        #expect(next.revision == 11 && next.features["BetaThing"]?.enabled == false)
    }

    @Test("removed features and APIs disappear")
    func removals() throws {
        let cache = try EffectiveCache.from(sampleSnapshot(revision: 10)).applying(.with {
            $0.baseRevision = 10
            $0.revision = 11
            $0.removedFeatures = ["AlphaThing"]
            $0.removedApis = [.with { $0.group = "example.io"; $0.version = "v1alpha1" }]
        })
        #expect(cache.features["AlphaThing"] == nil)
        #expect(cache.features.count == 2)
        #expect(cache.apis[APIRef(group: "example.io", version: "v1alpha1")] == nil)
        #expect(cache.apis.count == 3)
    }

    @Test("invalid entries are refused, all of them named")
    func invalidEntries() throws {
        let snapshot = Gatehouse_V1_Snapshot.with {
            $0.revision = 3
            $0.features = [
                wireFeature("Broken", true, .beta, params: ["p": Gatehouse_V1_ParameterValue()]),
                wireFeature("Fine", true, .beta),
            ]
            $0.apis = [wireAPI("batch", "", "", true, .beta)]
        }
        #expect {
            try EffectiveCache.from(snapshot)
        } throws: { error in
            guard case EffectiveCache.ApplyError.invalidEntries(_, let entries) = error else { return false }
            return entries == ["Broken", "batch/"]
        }
    }

    @Test("an entry without a stage takes the compiled-in stage, else alpha")
    func missingStage() throws {
        let snapshot = Gatehouse_V1_Snapshot.with {
            $0.revision = 1
            $0.features = [wireFeature("Known", true, .unspecified), wireFeature("Unknown", true, .unspecified)]
        }
        let cache = try EffectiveCache.from(snapshot, hints: .init(features: ["Known": .beta]))
        #expect(cache.features["Known"]?.stage == .beta)
        #expect(cache.features["Unknown"]?.stage == .alpha)
    }

    @Test("the wire snapshot round-trips")
    func wireRoundTrip() throws {
        let cache = try EffectiveCache.from(sampleSnapshot(revision: 10))
        #expect(try EffectiveCache.from(cache.wireSnapshot) == cache)
    }
}
