import Testing
@testable import GatehouseCore

@Suite("Change batches")
struct BatchApplierTests {
    let state = Fixtures.state
    let kubelet = Scope.component("kubelet")

    @Test func acceptedBatchGetsTheNextRevisionAndStampsWhatItWrote() throws {
        let applied = try BatchApplier().apply(
            ChangeBatch(changes: [.setFeature("B", scope: kubelet, enabled: true), .setAPI(.stage(.beta), scope: .global, enabled: true)],
                        expectedRevision: 1, reason: "try B", actor: "alice"),
            to: state, at: UnixMilliseconds(42), liveInstances: []
        )
        #expect(applied.state.revision == 2)
        #expect(applied.summary.revision == 2)
        let override = applied.state.featureOverrides[FeatureOverrideKey(feature: "B", scope: kubelet)]
        #expect(override?.stamp == ChangeStamp(revision: 2, actor: "alice", reason: "try B", time: UnixMilliseconds(42)))
        #expect(applied.summary.changes.map(\.key) == [
            .featureOverride(FeatureOverrideKey(feature: "B", scope: kubelet)),
            .apiOverride(APIOverrideKey(selector: .stage(.beta), scope: .global)),
        ])
        #expect(applied.summary.changes.allSatisfy { $0.before == nil && $0.after?.revision == 2 })
        #expect(applied.summary.changes.map(\.key.name) == ["B@component/kubelet", "api/beta@global"])
        #expect(applied.state.features["B"]?.revision == 1, "untouched objects keep their revision")
    }

    @Test func settingMergesParametersAndKeepsTheValue() throws {
        var next = try Fixtures.apply([.setFeature("D", scope: kubelet, enabled: false, parameters: ["n": .int(1)])], to: state)
        next = try Fixtures.apply([.setFeature("D", scope: kubelet, enabled: nil, parameters: ["m": .enumValue("fast")])], to: next)
        let override = next.featureOverrides[FeatureOverrideKey(feature: "D", scope: kubelet)]!
        #expect(override.enabled == false)
        #expect(override.parameters == ["n": .int(1), "m": .enumValue("fast")])
    }

    @Test func redefiningTheSameCatalogChangesNothing() throws {
        let catalog = self.state.catalog
        let applied = try BatchApplier().apply(.importing(catalog, actor: "admin"), to: self.state, at: UnixMilliseconds(5), liveInstances: [])
        #expect(applied.summary.changes.isEmpty, "identical definitions are not restamped")
        var changed = catalog
        changed.features[0].description += " (edited)"
        let edited = try BatchApplier().apply(.importing(changed, actor: "admin"), to: self.state, at: UnixMilliseconds(5), liveInstances: [])
        #expect(edited.summary.changes.map(\.key) == [.feature(changed.features[0].name)])
    }

    @Test func staleExpectedRevisionIsAborted() {
        let error = Fixtures.refusal([.setFeature("B", scope: .global, enabled: true)], to: state, expected: 0)
        #expect(error?.code == .aborted)
        #expect(error?.reason == .staleRevision)
        #expect(error?.message == "the state is at r1, not r0 as the request expected; read it again and retry")
    }

    @Test func refusalsQuoteWhatWasSentEscaped() {
        let state = Fixtures.state
        let unknown = Fixtures.refusal([.setFeature("Evil\nFORGED", scope: .global, enabled: true)], to: state)
        #expect(unknown?.reason == .unknownFeature)
        #expect(unknown?.message.contains("Evil\\nFORGED") == true)
        #expect(unknown?.metadata["feature"] == "Evil\nFORGED")
        let scope = Fixtures.refusal([.setFeature("B", scope: .component("kube\u{1B}[2Jlet"), enabled: true)], to: state)
        #expect(scope?.reason == .invalidScope)
        #expect(scope.map { ControlCharacters.occur(in: $0.message) } == false)
        let catalog = Catalog(features: [FeatureDefinition(name: "A", stage: .alpha, defaultEnabled: false, dependencies: ["X\nY"])])
        do {
            try catalog.validate()
            Issue.record("accepted")
        } catch {
            #expect(error.message == "the catalog has 1 problem:\n- feature A depends on X\\nY, which is not defined")
        }
    }

    @Test func reasonsWithControlCharactersAreRefused() {
        let state = Fixtures.state
        for reason in ["two\nlines", "esc\u{1B}[2J", "bidi\u{202E}", "nul\u{0}"] {
            let batch = ChangeBatch(changes: [.setFeature("B", scope: .global, enabled: true)], reason: reason, actor: "alice")
            do {
                _ = try BatchApplier().apply(batch, to: state, at: Fixtures.time, liveInstances: [])
                Issue.record("accepted the reason \(reason.debugDescription)")
            } catch {
                #expect(error.reason == .invalidReason)
                #expect(error.code == .invalidArgument)
                #expect(!ControlCharacters.occur(in: error.message))
            }
        }
        let fine = ChangeBatch(changes: [.setFeature("B", scope: .global, enabled: true)], reason: "ticket #42 — ünïcødé ok", actor: "alice")
        #expect(throws: Never.self) { try BatchApplier().apply(fine, to: state, at: Fixtures.time, liveInstances: []) }
    }

    @Test func emptyBatchesAndEmptyChangesAreRefused() {
        #expect(Fixtures.refusal([], to: state)?.reason == .emptyBatch)
        #expect(Fixtures.refusal([.setFeature("B", scope: .global, enabled: nil)], to: state)?.reason == .emptyChange)
    }

    @Test func unknownNamesAreNotFound() {
        let feature = Fixtures.refusal([.setFeature("Nope", scope: .global, enabled: true)], to: state)
        #expect(feature?.code == .notFound)
        #expect(feature?.message == "unknown feature Nope: no feature of that name is defined (names are case-sensitive)")
        #expect(Fixtures.refusal([.clearFeature("Nope", scope: .global)], to: state)?.code == .notFound)
        let api = Fixtures.refusal([.setAPI(.groupVersion(APIGroupVersion(group: "batch", version: "v2")), scope: .global, enabled: true)], to: state)
        #expect(api?.code == .notFound)
        #expect(api?.reason == .unknownAPI)
        #expect(api?.message.contains("unknown API batch/v2") == true)
        #expect(Fixtures.refusal([.removeFeature("Nope")], to: state)?.code == .notFound)
    }

    @Test func lockedGateCannotBeSetAgainstItsDefault() throws {
        let error = Fixtures.refusal([.setFeature("C", scope: kubelet, enabled: false)], to: state)
        #expect(error?.code == .failedPrecondition)
        #expect(error?.reason == .lockedGate)
        #expect(error?.message == "C is locked to enabled (GA); it cannot be disabled at component kubelet")
        #expect(error?.metadata == ["feature": "C", "scope": "component/kubelet"])
        _ = try Fixtures.apply([.setFeature("C", scope: kubelet, enabled: true)], to: state)
    }

    @Test func enablingWithoutTheDependencyIsRefusedNamingWhere() throws {
        let error = Fixtures.refusal([.setFeature("A", scope: .component(Fixtures.controllerManager), enabled: true)], to: Fixtures.registeredState)
        #expect(error?.code == .failedPrecondition)
        #expect(error?.reason == .unmetDependency)
        #expect(error?.message.hasPrefix("cannot enable A on kube-controller-manager: it needs B, which is disabled there") == true)
        // Both in one batch: validated against the state after the batch.
        _ = try Fixtures.apply([
            .setFeature("A", scope: .component(Fixtures.controllerManager), enabled: true),
            .setFeature("B", scope: .global, enabled: true),
        ], to: Fixtures.registeredState)
    }

    @Test func enablingChecksEveryLiveInstanceTheScopeCovers() throws {
        let withB = try Fixtures.apply([
            .setFeature("B", scope: .global, enabled: true),
            .setFeature("B", scope: .instance(component: "kubelet", id: "node-2"), enabled: false),
        ], to: state)
        let live = [Fixtures.node("node-1"), Fixtures.node("node-2")]
        let error = Fixtures.refusal([.setFeature("A", scope: kubelet, enabled: true)], to: withB, live: live)
        #expect(error?.message.hasPrefix("cannot enable A on kubelet/node-2: it needs B, which is disabled there") == true)
        #expect(error?.metadata["scope"] == "instance/kubelet/node-2")
        // Not live: not checked.
        _ = try Fixtures.apply([.setFeature("A", scope: kubelet, enabled: true)], to: withB, live: [Fixtures.node("node-1")])
    }

    @Test func disablingWhatAnEnabledFeatureNeedsIsRefused() throws {
        let error = Fixtures.refusal([.setFeature("F", scope: kubelet, enabled: false)], to: state)
        #expect(error?.code == .failedPrecondition)
        #expect(error?.reason == .dependentsEnabled)
        #expect(error?.message == "cannot disable F on kubelet: E needs it and is still enabled there; disable E first, or in the same batch")
        // Disabling a dependency together with its dependents is fine.
        let on = try Fixtures.apply([.setFeature("A", scope: kubelet, enabled: true), .setFeature("B", scope: kubelet, enabled: true)], to: state)
        #expect(Fixtures.refusal([.setFeature("B", scope: kubelet, enabled: false)], to: on)?.reason == .dependentsEnabled)
        let both = try Fixtures.apply([.setFeature("B", scope: kubelet, enabled: false), .setFeature("A", scope: kubelet, enabled: false)], to: on)
        #expect(both.revision == 3)
    }

    @Test func disablingWhatALockedFeatureNeedsIsRefused() {
        let error = Fixtures.refusal([
            .setFeature("F", scope: .global, enabled: false),
            .setFeature("E", scope: .global, enabled: false),
        ], to: state)
        #expect(error?.reason == .dependentsEnabled)
        #expect(error?.message.contains("L needs it and is still enabled there (it is locked on)") == true)
    }

    @Test func skewGuardRefusesEnablingOnOldReplicas() throws {
        let live = [Fixtures.node("node-1", Version(1, 31, 2)), Fixtures.node("node-7", Version(1, 30, 4))]
        let error = Fixtures.refusal([.setFeature("K", scope: .global, enabled: true)], to: state, live: live)
        #expect(error?.code == .failedPrecondition)
        #expect(error?.reason == .versionSkew)
        #expect(error?.message.hasPrefix("cannot enable K on kubelet/node-7: it needs kubelet 1.31.0 or newer, and node-7 runs 1.30.4") == true)
        #expect(error?.metadata["minimum_version"] == "1.31.0")
        #expect(error?.metadata["version"] == "1.30.4")
        // Enabling on the upgraded replica alone is fine.
        _ = try Fixtures.apply([.setFeature("K", scope: .instance(component: "kubelet", id: "node-1"), enabled: true)], to: state, live: live)
    }

    @Test func skewGuardLooksOnlyAtTheReplicasTheChangeCovers() throws {
        let live = [Fixtures.node("node-1", Version(1, 31, 2)), Fixtures.node("node-7", Version(1, 30, 4)), Fixtures.node("node-9", Version(1, 32, 0))]
        let component = Fixtures.refusal([.setFeature("K", scope: .component("kubelet"), enabled: true)], to: state, live: live)
        #expect(component?.reason == .versionSkew)
        #expect(component?.message.hasPrefix("cannot enable K on kubelet/node-7") == true)
        let old = Fixtures.refusal([.setFeature("K", scope: .instance(component: "kubelet", id: "node-7"), enabled: true)], to: state, live: live)
        #expect(old?.reason == .versionSkew)
        _ = try Fixtures.apply([.setFeature("K", scope: .instance(component: "kubelet", id: "node-9"), enabled: true)], to: state, live: live)
    }

    @Test func liveReplicasCoverWhatAScopeReaches() {
        let kubelets = [Fixtures.node("node-1", Version(1, 31, 2)), Fixtures.node("node-7", Version(1, 30, 4))]
        let scheduler = InstanceRef(component: "kube-scheduler", instanceID: "s-1", version: Version(1, 31, 0))
        let live = LiveReplicas(kubelets + [scheduler])
        #expect(Set(live.covered(by: [.global])) == Set(kubelets + [scheduler]))
        #expect(Set(live.covered(by: [.component("kubelet")])) == Set(kubelets))
        #expect(live.covered(by: [.instance(component: "kubelet", id: "node-7")]) == [kubelets[1]])
        #expect(live.covered(by: [.instance(component: "kubelet", id: "node-404")]).isEmpty)
        let mixed = live.covered(by: [.component("kubelet"), .instance(component: "kubelet", id: "node-1"), .instance(component: "kube-scheduler", id: "s-1"), .instance(component: "kube-scheduler", id: "s-1")])
        #expect(mixed.count == 3 && Set(mixed) == Set(kubelets + [scheduler]), "each replica once")
        #expect(live.instance(component: "kube-scheduler", id: "s-1") == scheduler)
    }

    @Test func parameterRefusals() {
        let unknown = Fixtures.refusal([.setFeature("D", scope: .global, enabled: nil, parameters: ["zz": .int(1)])], to: state)
        #expect(unknown?.code == .invalidArgument)
        #expect(unknown?.reason == .unknownParameter)
        #expect(unknown?.message == "feature D has no parameter zz (it has n, s, m, t, b)")
        let none = Fixtures.refusal([.setFeature("B", scope: .global, enabled: true, parameters: ["zz": .int(1)])], to: state)
        #expect(none?.message == "feature B has no parameter zz (it has no parameters)")
        let range = Fixtures.refusal([.setFeature("D", scope: .global, enabled: nil, parameters: ["n": .int(11)])], to: state)
        #expect(range?.reason == .invalidParameter)
        #expect(range?.message == "parameter n of D: 11 is above the maximum 10")
        let type = Fixtures.refusal([.setFeature("D", scope: .global, enabled: nil, parameters: ["t": .int(500)])], to: state)
        #expect(type?.message == "parameter t of D: expected a duration value, got int 500")
        let regex = Fixtures.refusal([.setFeature("D", scope: .global, enabled: nil, parameters: ["s": .string("A B")])], to: state)
        #expect(regex?.message == "parameter s of D: \"A B\" does not match /[a-z]+/")
        let choice = Fixtures.refusal([.setFeature("D", scope: .global, enabled: nil, parameters: ["m": .enumValue("ludicrous")])], to: state)
        #expect(choice?.message == "parameter m of D: \"ludicrous\" is not one of fast, safe")
    }

    @Test func scopesAndApplicability() {
        let bad = Fixtures.refusal([.setFeature("B", scope: .component("kube let"), enabled: true)], to: state)
        #expect(bad?.code == .invalidArgument)
        #expect(bad?.reason == .invalidScope)
        let elsewhere = Fixtures.refusal([.setFeature("K", scope: .component(Fixtures.controllerManager), enabled: true)], to: Fixtures.registeredState)
        #expect(elsewhere?.code == .invalidArgument)
        #expect(elsewhere?.message == "feature K does not apply to kube-controller-manager (it applies to kubelet)")
    }

    @Test func refusedBatchChangesNothing() {
        let before = state
        #expect(Fixtures.refusal([.setFeature("B", scope: .global, enabled: true), .setFeature("C", scope: .global, enabled: false)], to: state) != nil)
        #expect(state == before)
    }

    @Test func catalogChangesAreValidatedAfterTheBatch() throws {
        // Define and use in one batch.
        let defined = try Fixtures.apply([
            .defineFeature(FeatureDefinition(name: "New", stage: .alpha, defaultEnabled: false)),
            .setFeature("New", scope: .global, enabled: true),
        ], to: state)
        #expect(defined.features["New"]?.revision == 2)
        // A cycle is refused.
        let cycle = Fixtures.refusal([.defineFeature(FeatureDefinition(name: "B", stage: .beta, defaultEnabled: false, dependencies: ["A"]))], to: state)
        #expect(cycle?.reason == .invalidCatalog)
        #expect(cycle?.message.contains("dependency cycle: A → B → A") == true)
        // Removing a feature others depend on is refused; removing it with them is fine.
        #expect(Fixtures.refusal([.removeFeature("B")], to: state)?.message.contains("feature A depends on B, which is not defined") == true)
        let removed = try Fixtures.apply([.removeFeature("B"), .removeFeature("A")], to: state)
        #expect(removed.features["A"] == nil && removed.features["B"] == nil)
    }

    @Test func redefiningAsLockedConflictsWithOverrides() throws {
        let withOverride = try Fixtures.apply([.setFeature("B", scope: kubelet, enabled: true)], to: state)
        let locked = FeatureDefinition(name: "B", stage: .ga, defaultEnabled: false, lockToDefault: true)
        let error = Fixtures.refusal([.defineFeature(locked), .removeFeature("A")], to: withOverride)
        #expect(error?.reason == .lockedGate)
        #expect(error?.message.contains("clear that override in the same batch") == true)
        _ = try Fixtures.apply([.defineFeature(locked), .removeFeature("A"), .clearFeature("B", scope: kubelet)], to: withOverride)
    }

    @Test func removingAFeatureRemovesItsOverrides() throws {
        let next = try Fixtures.apply([.setFeature("D", scope: kubelet, enabled: false)], to: state)
        let applied = try BatchApplier().apply(ChangeBatch(changes: [.removeFeature("D")], actor: "admin"), to: next, at: Fixtures.time, liveInstances: [])
        #expect(applied.state.featureOverrides.isEmpty)
        #expect(applied.summary.changes.map(\.key) == [.feature("D"), .featureOverride(FeatureOverrideKey(feature: "D", scope: kubelet))])
        #expect(applied.summary.changes.allSatisfy { $0.after == nil && $0.before != nil })
    }

    @Test func removingAnAPIRemovesOverridesLeftSelectingNothing() throws {
        let ref = APIRef(group: "resource.k8s.io", version: "v1alpha3")
        let next = try Fixtures.apply([.setAPI(.api(ref), scope: .global, enabled: true), .setAPI(.stage(.alpha), scope: .global, enabled: true)], to: state)
        let removed = try Fixtures.apply([.removeAPI(ref)], to: next)
        #expect(removed.apiOverrides.keys.map(\.selector) == [.stage(.alpha)])
    }

    @Test func unrelatedChangesAreNotBlockedByOlderProblems() throws {
        // An old replica already lacks K (enabled before it joined); changing B is still fine.
        let enabled = try Fixtures.apply([.setFeature("K", scope: .global, enabled: true)], to: state)
        let live = [Fixtures.node("old", Version(1, 29, 0))]
        _ = try Fixtures.apply([.setFeature("B", scope: .global, enabled: true)], to: enabled, live: live)
    }

    @Test func adminChangesAreMarked() {
        #expect(ChangeBatch.importing(Fixtures.catalog, actor: "a").requiresAdmin)
        #expect(!ChangeBatch(changes: [.setFeature("B", scope: .global, enabled: true)], actor: "a").requiresAdmin)
    }
}
