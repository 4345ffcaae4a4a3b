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
}
