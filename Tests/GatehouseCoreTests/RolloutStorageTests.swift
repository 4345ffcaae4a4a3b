import Foundation
import Testing

@testable import GatehouseCore

/// A rollout is one stored object: put by a batch, indexed while in effect, replayed and reverted like any other.
@Suite struct RolloutStorageTests {
    static func rollout(
        _ name: String = "r7",
        feature: String = "B",
        component: String = Fixtures.kubelet,
        phase: RolloutPhase = .running,
        threshold: Double = 0.1
    ) -> Rollout {
        Rollout(
            name: name,
            target: .feature(feature),
            enabled: true,
            component: component,
            steps: [RolloutStep(size: .percent(10), bake: 60_000), RolloutStep(size: .percent(100), bake: 60_000)],
            phase: phase,
            threshold: threshold,
            stepStartedAt: Fixtures.time,
            bakeDeadline: Fixtures.time.advanced(by: 60_000),
            actor: "alice",
            createdAt: Fixtures.time
        )
    }

    @Test func putRolloutIsAnOperatorChange() {
        #expect(!Change.putRollout(Self.rollout()).requiresAdmin)
        #expect(Change.putRollout(Self.rollout()).description == "put rollout r7 (running, step 1/2)")
    }

    @Test func aPutRolloutIsStoredByNameAndIndexedWhileInEffect() throws {
        let applied = try BatchApplier().apply(
            ChangeBatch(changes: [.putRollout(Self.rollout())], actor: "alice"),
            to: Fixtures.state,
            at: Fixtures.time,
            liveInstances: []
        )
        let state = applied.state
        #expect(state.rollout("r7")?.revision == Revision(2), "stamped with the batch's revision")
        #expect(state.rolloutInEffect(of: .feature("B"), on: Fixtures.kubelet)?.name == "r7")
        #expect(state.rolloutInEffect(of: .feature("B"), on: "kube-proxy") == nil)
        #expect(state.rolloutInEffect(of: .feature("A"), on: Fixtures.kubelet) == nil)
        #expect(state.rolloutsInEffect(on: Fixtures.kubelet).map(\.name) == ["r7"])
        #expect(applied.summary.changes.map(\.key) == [.rollout("r7")])
        #expect(applied.summary.changes.first?.key.kind == "rollout")
        #expect(applied.summary.changes.first?.after == .rollout(state.rollout("r7")!))

        // Finished: still stored, no longer in effect.
        var aborted = state.rollout("r7")!
        aborted.phase = .aborted
        let after = try Fixtures.apply([.putRollout(aborted)], to: state)
        #expect(after.rollout("r7")?.phase == .aborted)
        #expect(after.rolloutInEffect(of: .feature("B"), on: Fixtures.kubelet) == nil)
        #expect(!after.hasRolloutsInEffect(on: Fixtures.kubelet))
    }

    @Test func replayingAndRevertingARolloutBatchMovesTheIndexToo() throws {
        let base = Fixtures.state
        let started = try BatchApplier().apply(ChangeBatch(changes: [.putRollout(Self.rollout())], actor: "a"), to: base, at: Fixtures.time, liveInstances: [])
        #expect(base.replaying(started.summary) == started.state)
        #expect(started.state.reverting(started.summary) == base)
        #expect(started.state.reverting(started.summary).rolloutInEffect(of: .feature("B"), on: Fixtures.kubelet) == nil)

        var completed = started.state.rollout("r7")!
        completed.phase = .completed
        completed.threshold = 1
        let ended = try BatchApplier().apply(ChangeBatch(changes: [.putRollout(completed)], actor: "a"), to: started.state, at: Fixtures.time, liveInstances: [])
        #expect(started.state.replaying(ended.summary) == ended.state)
        #expect(ended.state.reverting(ended.summary) == started.state)
        #expect(ended.state.rolloutInEffect(of: .feature("B"), on: Fixtures.kubelet)?.phase == .completed)
    }

    @Test func aStateRebuiltFromItsObjectsOrItsJSONHasTheSameRollouts() throws {
        let state = try Fixtures.apply(
            [.putRollout(Self.rollout()), .putRollout(Self.rollout("old", feature: "F")), .putRollout(Self.rollout("old", feature: "F", phase: .rolledBack))],
            to: Fixtures.state
        )
        let data = try JSONEncoder().encode(state)
        let decoded = try JSONDecoder().decode(GateState.self, from: data)
        #expect(decoded == state)
        #expect(decoded.rolloutsInEffect(on: Fixtures.kubelet).map(\.name) == ["r7"])
        let rebuilt = GateState(
            revision: state.revision,
            features: Array(state.features.values),
            apis: Array(state.apis.values),
            featureOverrides: Array(state.featureOverrides.values),
            apiOverrides: Array(state.apiOverrides.values),
            rollouts: Array(state.rollouts.values)
        )
        #expect(rebuilt == state)
    }

    @Test func aRolloutChangeReachesItsComponentOnly() {
        let rollout = Self.rollout()
        let reach = BatchReach(BatchSummary(revision: Revision(2), changes: [ObjectChange(key: .rollout("r7"), before: nil, after: .rollout(rollout))]))
        #expect(reach.affects(component: Fixtures.kubelet, instanceID: ""))
        #expect(reach.affects(component: Fixtures.kubelet, instanceID: "n1"))
        #expect(!reach.affects(component: "kube-proxy", instanceID: ""))
        #expect(!reach.everything)
    }

    @Test func aRolloutIsStoredWithSnakeCaseKeysAndReadsBack() throws {
        var rollout = Self.rollout()
        rollout.minimumVersion = Version(1, 31)
        rollout.steps[0].maxUnhealthy = 2
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(rollout), as: UTF8.self)
        for key in ["\"step_revision\"", "\"bake_deadline\"", "\"disconnect_grace_ms\"", "\"min_version\"", "\"created_at\"", "\"max_unhealthy\":2", "\"bake_ms\":60000", "\"target\":{\"feature\":\"B\"}", "\"phase\":\"running\""] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
        #expect(try JSONDecoder().decode(Rollout.self, from: Data(json.utf8)) == rollout)
    }

    @Test func anUnknownRolloutIsNotFoundByName() throws {
        let state = try Fixtures.apply([.putRollout(Self.rollout())], to: Fixtures.state)
        #expect(try state.requireRollout("r7").name == "r7")
        #expect(throws: GateError("no rollout is named r8; list them with gatectl rollout list", reason: .rolloutNotFound, metadata: ["rollout": "r8"])) {
            try state.requireRollout("r8")
        }
    }
}
