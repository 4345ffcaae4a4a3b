import Foundation
import GatehouseCore
import GatehouseStore
import Testing

@testable import GatehouseServer

/// The gate state survives the store: what a batch writes reloads as the same state.
@Suite struct GateRecordsTests {
    static let catalog = Catalog(
        features: [
            FeatureDefinition(name: "Base", stage: .beta, defaultEnabled: true),
            FeatureDefinition(
                name: "Child",
                components: ["kubelet"],
                stage: .alpha,
                defaultEnabled: false,
                dependencies: ["Base"],
                parameters: [ParameterSpec(name: "timeout", kind: .duration(defaultMs: 1000, minMs: 10, maxMs: 60_000))]
            ),
        ],
        apis: [APIDefinition(APIRef(group: "batch", version: "v1beta1"), stage: .beta)]
    )

    static func apply(_ batch: ChangeBatch, to store: SQLiteGateStore<GateState>) async throws {
        _ = try await store.submit { state, _ in
            let applied = try BatchApplier().apply(batch, to: state, at: UnixMilliseconds(1_000), liveInstances: [])
            let encoded = try GateRecords.encode(applied.summary.changes)
            let audit = AuditEntry(timeUnixMilliseconds: 1_000, actor: batch.actor, method: "test", reason: batch.reason, before: encoded.before, after: encoded.after)
            return .commit(applied.state, records: encoded.records, audit: audit)
        }
    }

    @Test func aReopenedStoreHoldsTheSameState() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/gatehouse.db"
        let store = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        try await Self.apply(.importing(Self.catalog, actor: "admin"), to: store)
        try await Self.apply(
            ChangeBatch(
                changes: [
                    .setFeature("Child", scope: .component("kubelet"), enabled: true, parameters: ["timeout": .durationMs(500)]),
                    .setAPI(.stage(.beta), scope: .global, enabled: true),
                    .setFeature("Base", scope: .instance(component: "kubelet", id: "n1"), enabled: true),
                ],
                reason: "canary",
                actor: "alice"
            ),
            to: store
        )
        try await Self.apply(ChangeBatch(changes: [.clearFeature("Base", scope: .instance(component: "kubelet", id: "n1"))], actor: "alice"), to: store)
        let before = store.snapshot.state
        let history = try await store.history(AuditQuery())
        await store.close()

        let reopened = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        #expect(reopened.snapshot.state == before)
        #expect(reopened.snapshot.revision == Revision(3))
        #expect(before.featureOverrides.count == 1, "the cleared override is gone after reload too")
        #expect(history.count == 3)
        for record in history {
            let after = try JSONSerialization.jsonObject(with: Data(record.entry.after)) as? [String: Any]
            let old = try JSONSerialization.jsonObject(with: Data(record.entry.before)) as? [String: Any]
            #expect(after != nil && old != nil, "audit before/after are JSON objects")
        }
        await reopened.close()
    }
}

extension GateRecordsTests {
    /// The hand-written override JSON reads back as the same value, escapes and all.
    @Test(arguments: [
        ("Plain", Scope.global, Optional(true), "admin", "because"),
        ("Quote\"d", Scope.component("kube\\let"), Optional(false), "a\"b", "line\nbreak\ttab\u{01}"),
        ("Unset", Scope.instance(component: "kubelet", id: "node-7"), nil, "ünïcødé ✓", ""),
    ])
    func handWrittenOverrideJSONRoundTrips(_ feature: String, _ scope: Scope, _ enabled: Bool?, _ actor: String, _ reason: String) throws {
        let override = FeatureOverride(
            feature: feature,
            scope: scope,
            enabled: enabled,
            stamp: ChangeStamp(revision: Revision(42), actor: actor, reason: reason, time: UnixMilliseconds(1_764_000_000_000))
        )
        let bytes = try #require(OverrideJSON.encode(override))
        #expect(try JSONDecoder().decode(FeatureOverride.self, from: Data(bytes)) == override)
        let withParameters = FeatureOverride(feature: feature, scope: scope, enabled: enabled, parameters: ["n": .int(3)], stamp: override.stamp)
        #expect(OverrideJSON.encode(withParameters) == nil, "parameters take the Codable path")
    }
}

extension GateRecordsTests {
    /// An audit entry is indexed by what History filters on: an instance's
    /// change is found through its feature and its component, and the instance
    /// is no subject of its own (it would cost a random index page per toggle).
    @Test func auditSubjectsAreFeaturesAPIsAndComponentsNeverInstances() {
        let canary = Scope.instance(component: "kubelet", id: "node-7")
        let changes = [
            ObjectChange(key: .featureOverride(FeatureOverrideKey(feature: "Base", scope: canary)), before: nil, after: nil),
            ObjectChange(key: .apiOverride(APIOverrideKey(selector: .stage(.alpha), scope: canary)), before: nil, after: nil),
            ObjectChange(key: .featureOverride(FeatureOverrideKey(feature: "Child", scope: .global)), before: nil, after: nil),
        ]
        #expect(GateService.subjects(of: changes) == ["api:api/alpha", "component:kubelet", "feature:Base", "feature:Child"])
    }
}

extension GateRecordsTests {
    /// A rollout is stored as kind `rollout`: a restarted server reloads it (and its in-effect index),
    /// and the audit record of the batch that wrote it reads back as the same change.
    @Test func aRolloutSurvivesAReopenAndItsAuditRecordReadsBack() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/gatehouse.db"
        let store = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        try await Self.apply(.importing(Self.catalog, actor: "admin"), to: store)
        let rollout = Rollout(
            name: "r7",
            target: .feature("Child"),
            enabled: true,
            parameters: ["timeout": .durationMs(500)],
            component: "kubelet",
            labels: ["zone": "a"],
            minimumVersion: Version(1, 31),
            steps: [RolloutStep(size: .instances(2), bake: 60_000, maxUnhealthy: 1), RolloutStep(size: .percent(100))],
            threshold: 0.25,
            stepStartedAt: UnixMilliseconds(1_000),
            bakeDeadline: UnixMilliseconds(61_000),
            actor: "alice",
            createdAt: UnixMilliseconds(1_000)
        )
        try await Self.apply(ChangeBatch(changes: [.putRollout(rollout)], reason: "canary", actor: "alice"), to: store)
        let before = store.snapshot.state
        let history = try await store.history(AuditQuery())
        await store.close()

        let reopened = try SQLiteGateStore<GateState>(path: path) { try GateRecords.state(from: $0) }
        #expect(reopened.snapshot.state == before)
        #expect(reopened.snapshot.state.rolloutInEffect(of: .feature("Child"), on: "kubelet")?.threshold == 0.25)
        let record = try #require(history.first { $0.revision == Revision(2) })
        let summary = try GateRecords.summary(from: record)
        #expect(summary.changes.map(\.key) == [.rollout("r7")])
        #expect(summary.changes.first?.after == .rollout(before.rollout("r7")!))
        #expect(GateService.subjects(of: summary.changes) == ["component:kubelet", "feature:Child"])
        await reopened.close()
    }
}
