import Foundation
import GatehouseClient
import GatehouseCore
import Testing

/// Features/Set on a live server: unchanged batches commit nothing, removals, unknown components.
@Suite(.serialized) struct WritesLiveTests {
    static func set(_ fixture: ComponentFixture, _ changes: [Gatehouse_V1_Change], force: Bool = false, dryRun: Bool = false) async throws -> Gatehouse_V1_SetResponse {
        try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/Set",
            Gatehouse_V1_SetRequest.with {
                $0.reason = "test"
                $0.changes = changes
                $0.allowUnknownComponent = force
                $0.dryRun = dryRun
            }
        )
    }

    static func feature(_ name: String, _ enabled: Bool?, component: String, remove: Bool = false) -> Gatehouse_V1_Change {
        .with {
            $0.feature = name
            if let enabled { $0.enabled = enabled }
            $0.remove = remove
            $0.scope = .with { $0.component = .with { $0.component = component } }
        }
    }

    static func historyRevisions(_ fixture: ComponentFixture) async throws -> [UInt64] {
        try await fixture.admin.history(Gatehouse_V1_HistoryRequest()).entries.map(\.revision)
    }

    @Test func anUnchangedBatchCommitsNothingAndSaysSo() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let subscriber = try await RecordingSubscriber.subscribe(on: fixture.admin.connection, component: "kubelet", instanceID: "node-1")
        try await subscriber.wait(for: "a snapshot") { !$0.isEmpty }

        let first = try await Self.set(fixture, [Self.feature("KubeletOnly", true, component: "kubelet")])
        #expect(!first.unchanged)
        #expect(first.applied == ["created feature_override KubeletOnly@component/kubelet"])
        try await subscriber.wait(for: "the change") { messages in messages.contains { if case .delta = $0.message { true } else { false } } }
        let audited = try await Self.historyRevisions(fixture)

        let again = try await Self.set(fixture, [Self.feature("KubeletOnly", true, component: "kubelet")])
        #expect(again.unchanged)
        #expect(again.revision == first.revision, "no new revision")
        #expect(again.applied == ["unchanged: set KubeletOnly=true at component kubelet"])
        #expect(try await Self.historyRevisions(fixture) == audited, "no audit entry")
        let get = try await fixture.admin.getFeature(named: "KubeletOnly")
        #expect(get.revision == first.revision)
        #expect(get.overrides.map(\.revision) == [first.revision], "the override keeps its stamp")

        // A later real change is the very next revision: the unchanged one took none.
        let next = try await Self.set(fixture, [Self.feature("KubeletOnly", false, component: "kubelet")])
        #expect(next.revision == first.revision + 1)
        try await subscriber.wait(for: "the second change") { _ in subscriber.deltas.contains { $0.revision == next.revision } }
        #expect(subscriber.deltas.map(\.revision) == [first.revision, next.revision], "one push per committed change, none for the unchanged batch")

        // A dry run says it is one.
        let dry = try await Self.set(fixture, [Self.feature("KubeletOnly", true, component: "kubelet")], dryRun: true)
        #expect(dry.dryRun)
        #expect(!dry.unchanged)
        subscriber.cancel()
    }

    @Test func removingAnOverrideAndRemovingNothing() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let set = try await Self.set(fixture, [Self.feature("Everywhere", true, component: "kubelet")])
        let removed = try await Self.set(fixture, [Self.feature("Everywhere", nil, component: "kubelet", remove: true)])
        #expect(removed.revision == set.revision + 1)
        #expect(removed.applied == ["removed feature_override Everywhere@component/kubelet"])
        #expect(try await fixture.admin.getFeature(named: "Everywhere").overrides.isEmpty)
        let nothing = try await Self.set(fixture, [Self.feature("Everywhere", nil, component: "kubelet", remove: true)])
        #expect(nothing.unchanged)
        #expect(nothing.revision == removed.revision)
        #expect(nothing.applied == ["unchanged: clear Everywhere at component kubelet"])
    }

    @Test func anUnknownComponentIsRefusedWithASuggestionUnlessForced() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let imported = try await fixture.importCatalog()
        let error = await #expect(throws: RPCError.self) {
            _ = try await Self.set(fixture, [Self.feature("Everywhere", true, component: "kube-schedular")])
        }
        #expect(error?.code == .notFound)
        let details = try Gatehouse_V1_ErrorDetails(serializedBytes: error?.status.details ?? [])
        #expect(details.reason == "UNKNOWN_COMPONENT")
        #expect(details.metadata["component"] == "kube-schedular")
        #expect(error?.message.contains("did you mean kube-scheduler?") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("--force") == true)
        let forced = try await Self.set(fixture, [Self.feature("Everywhere", true, component: "kube-schedular")], force: true)
        #expect(forced.revision == imported + 1)

        // A component that registered is known, though no definition names it.
        let register: Gatehouse_V1_RegisterResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/Register",
            Gatehouse_V1_RegisterRequest.with { $0.component = "etcd-operator"; $0.instanceID = "op-1"; $0.version = "1.0.0" }
        )
        _ = register
        _ = try await Self.set(fixture, [Self.feature("Everywhere", true, component: "etcd-operator")])

        let unknownFeature = await #expect(throws: RPCError.self) {
            _ = try await Self.set(fixture, [Self.feature("KubeletOnyl", true, component: "kubelet")])
        }
        #expect(unknownFeature?.message.hasSuffix("did you mean KubeletOnly?") == true, "\(unknownFeature?.message ?? "")")
    }

    /// The server's overrides read back as a manifest, a diff applied as one conditional batch, and
    /// the batch refused when the state moved after it was read.
    @Test func theManifestRoundTripsThroughTheServer() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        try await fixture.set("SchedulerOnly", true, component: "kube-scheduler", params: ["weight": 7])
        try await fixture.set("KubeletOnly", false, component: "kubelet", instance: "node-1")
        let apiBeta: Gatehouse_V1_Change = .with {
            $0.api = .with { $0.stage = .beta }
            $0.enabled = true
            $0.scope = .with { $0.global = .init() }
        }
        let r3 = try await Self.set(fixture, [apiBeta]).revision

        let read = try await fixture.admin.serverManifest()
        #expect(read.revision == r3)
        let scheduler = Scope.component("kube-scheduler")
        let replica = Scope.instance(component: "kubelet", id: "node-1")
        #expect(read.manifest == GateManifest(
            features: [
                FeatureOverrideKey(feature: "SchedulerOnly", scope: scheduler): FeatureSetting(enabled: true, parameters: ["weight": .int(7)]),
                FeatureOverrideKey(feature: "KubeletOnly", scope: replica): FeatureSetting(enabled: false),
            ],
            apis: [APIOverrideKey(selector: .stage(.beta), scope: .global): true]
        ))
        let exported = read.manifest.yaml()
        let reparsed = try GateManifest.parse(yaml: exported, file: "export", features: read.features)
        #expect(ManifestDiff(from: read.manifest, to: reparsed, prune: true).isEmpty, "export | apply changes nothing")

        // Edit: a new component override, the instance one pruned, the weight changed.
        var desired = read.manifest
        desired.features[FeatureOverrideKey(feature: "Everywhere", scope: .component("kubelet"))] = FeatureSetting(enabled: true)
        desired.features[FeatureOverrideKey(feature: "KubeletOnly", scope: replica)] = nil
        desired.features[FeatureOverrideKey(feature: "SchedulerOnly", scope: scheduler)]?.parameters["weight"] = .int(9)
        let diff = ManifestDiff(from: read.manifest, to: desired, prune: true)
        #expect(diff.entries.count == 3)
        let request = ChangeBatch(changes: diff.changes, expectedRevision: Revision(read.revision), reason: "apply", actor: "").wireSetRequest
        let applied: Gatehouse_V1_SetResponse = try await fixture.admin.connection.unary("/gatehouse.v1.Features/Set", request)
        #expect(applied.revision == r3 + 1, "one batch, one revision")
        let after = try await fixture.admin.serverManifest()
        #expect(after.manifest == desired)
        #expect(after.revision == r3 + 1)

        // An apply of what is there sends nothing and says so.
        let same = try await fixture.admin.planApply(yaml: after.manifest.yaml(), file: "gates.yaml", prune: true, reason: "no-op")
        let unchanged = try await fixture.admin.apply(same)
        #expect(unchanged.unchanged && unchanged.revision == after.revision)
        #expect(try await fixture.admin.serverManifest().revision == after.revision)

        // Planned at N, someone else writes, the batch conditioned on N is refused whole.
        var again = desired
        again.apis[APIOverrideKey(selector: .stage(.beta), scope: .global)] = false
        let plan = try await fixture.admin.planApply(yaml: again.yaml(), file: "gates.yaml", prune: false, reason: "apply")
        #expect(plan.request.expectedRevision == after.revision)
        try await fixture.set("Everywhere", false, component: "kubelet")
        let refusal = await #expect(throws: RPCError.self) { _ = try await fixture.admin.apply(plan) }
        #expect(refusal?.code == .aborted)
        #expect(refusal?.message.contains("run apply again") == true, "\(refusal?.message ?? "")")
        #expect(try await fixture.admin.serverManifest().manifest.apis[APIOverrideKey(selector: .stage(.beta), scope: .global)] == true)
    }
}
