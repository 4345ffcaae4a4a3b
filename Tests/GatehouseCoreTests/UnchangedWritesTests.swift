import Testing
@testable import GatehouseCore

/// Writing what is already in effect changes nothing: no object is restamped, so the
/// server takes no revision, writes no audit entry and pushes nothing.
@Suite("Unchanged writes")
struct UnchangedWritesTests {
    let kubelet = Scope.component("kubelet")

    func apply(_ changes: [Change], to state: GateState) throws -> AppliedBatch {
        try BatchApplier().apply(ChangeBatch(changes: changes, reason: "again", actor: "bob"), to: state, at: UnixMilliseconds(99), liveInstances: [])
    }

    @Test func settingTheStoredValueAgainChangesNothing() throws {
        let state = try Fixtures.apply(
            [.setFeature("D", scope: kubelet, enabled: true, parameters: ["n": .int(3)]), .setAPI(.stage(.beta), scope: .global, enabled: true)],
            to: Fixtures.state
        )
        let again = try self.apply(
            [.setFeature("D", scope: kubelet, enabled: true), .setFeature("D", scope: kubelet, enabled: nil, parameters: ["n": .int(3)]),
             .setAPI(.stage(.beta), scope: .global, enabled: true)],
            to: state
        )
        #expect(again.summary.changes.isEmpty)
        #expect(again.summary.unchanged.count == 3)
        let override = again.state.featureOverrides[FeatureOverrideKey(feature: "D", scope: kubelet)]
        #expect(override?.stamp.actor == "alice", "the stored override keeps the stamp of the change that wrote it")
    }

    @Test func aRealChangeInTheSameBatchIsWrittenAndTheRestReportedUnchanged() throws {
        let state = try Fixtures.apply([.setFeature("B", scope: kubelet, enabled: true)], to: Fixtures.state)
        let mixed = try self.apply([.setFeature("B", scope: kubelet, enabled: true), .setFeature("D", scope: kubelet, enabled: false)], to: state)
        #expect(mixed.summary.changes.map(\.key) == [.featureOverride(FeatureOverrideKey(feature: "D", scope: kubelet))])
        #expect(mixed.summary.unchanged == [.setFeature("B", scope: kubelet, enabled: true)])
        #expect(mixed.state.featureOverrides[FeatureOverrideKey(feature: "B", scope: kubelet)]?.stamp.revision == 2)
    }

    @Test func aRepeatWithinOneBatchIsNotReportedUnchanged() throws {
        let applied = try self.apply([.setFeature("B", scope: kubelet, enabled: true), .setFeature("B", scope: kubelet, enabled: true)], to: Fixtures.state)
        #expect(applied.summary.changes.count == 1)
        #expect(applied.summary.unchanged.isEmpty, "the batch wrote it: that is what its caller is told")
    }

    @Test func aDifferentParameterValueIsAChange() throws {
        let state = try Fixtures.apply([.setFeature("D", scope: kubelet, enabled: true, parameters: ["n": .int(3)])], to: Fixtures.state)
        let changed = try self.apply([.setFeature("D", scope: kubelet, enabled: true, parameters: ["n": .int(4)])], to: state)
        #expect(changed.summary.changes.count == 1)
        #expect(changed.summary.unchanged.isEmpty)
    }

    @Test func removingAnOverrideThatDoesNotExistIsUnchangedNotAnError() throws {
        let applied = try self.apply([.clearFeature("B", scope: kubelet), .clearAPI(.stage(.alpha), scope: .global)], to: Fixtures.state)
        #expect(applied.summary.changes.isEmpty)
        #expect(applied.summary.unchanged == [.clearFeature("B", scope: kubelet), .clearAPI(.stage(.alpha), scope: .global)])
    }

    @Test func removingAnExistingOverrideIsAChange() throws {
        let state = try Fixtures.apply([.setFeature("B", scope: kubelet, enabled: true)], to: Fixtures.state)
        let removed = try self.apply([.clearFeature("B", scope: kubelet)], to: state)
        #expect(removed.summary.changes.map(\.after) == [nil])
        #expect(removed.state.featureOverrides.isEmpty)
    }

    @Test func aFirstWriteOfADefaultValueIsStillAChange() throws {
        // No override yet: writing one (even equal to the default) pins the value at that scope.
        let applied = try self.apply([.setFeature("B", scope: kubelet, enabled: false)], to: Fixtures.state)
        #expect(applied.summary.changes.count == 1)
    }
}
