import Foundation
import GatehouseClient
import GatehouseServer
import Testing

/// A single server over SQLite lists the instances it knew before a restart,
/// disconnected with the time they were last seen, until they reconnect;
/// past `instanceRetention` they are forgotten.
@Suite(.serialized) struct InstanceListRestartLiveTests {
    static func instances(_ fixture: ComponentFixture) async throws -> Gatehouse_V1_ListComponentsResponse {
        try await fixture.admin.connection.unary("/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
    }

    /// - Returns: the server's revision after it: a registration records the instance's build.
    static func register(_ fixture: ComponentFixture, _ instanceID: String) async throws -> UInt64 {
        let response: Gatehouse_V1_RegisterResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/Register",
            Gatehouse_V1_RegisterRequest.with {
                $0.component = "kubelet"
                $0.instanceID = instanceID
                $0.version = "1.31.0"
                $0.labels = ["zone": "a"]
            }
        )
        return response.revision
    }

    @Test func theInstanceListSurvivesARestartDisconnectedUntilInstancesReconnect() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        var fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let revision = try await Self.register(fixture, "node-1")
        let subscriber = try await RecordingSubscriber.subscribe(on: fixture.admin.connection, component: "kubelet", instanceID: "node-1")
        try await subscriber.wait(for: "the snapshot", timeout: .seconds(20)) { !$0.isEmpty }
        try await subscriber.ack(revision)
        try await SubscriptionTests.eventually("the ack is recorded") { try await Self.instances(fixture).instances.first?.appliedRevision == revision }
        await fixture.admin.close()
        try await running.stop()

        running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        fixture = try await ComponentFixture.start(running, directory: directory)
        let listed = try await Self.instances(fixture)
        #expect(listed.revision == revision, "the kept instances are not gate revisions")
        let instance = try #require(listed.instances.first)
        #expect(listed.instances.count == 1)
        #expect(instance.instanceID == "node-1" && instance.version == "1.31.0" && instance.labels == ["zone": "a"])
        #expect(!instance.connected && instance.lastSeenUnixMs > 0, "listed as disconnected, with when it was last seen")
        #expect(instance.appliedRevision == revision)

        // It reconnects: connected again, the same record.
        let back = try await RecordingSubscriber.subscribe(on: fixture.admin.connection, component: "kubelet", instanceID: "node-1", since: revision)
        try await SubscriptionTests.eventually("it is connected again") { try await Self.instances(fixture).instances.first?.connected == true }
        back.cancel()
        await fixture.admin.close()
        try await running.stop()

        // Restarted with a retention shorter than the restart took: forgotten.
        running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { $0.instanceRetention = .milliseconds(1) }
        fixture = try await ComponentFixture.start(running, directory: directory)
        #expect(try await Self.instances(fixture).instances.isEmpty, "disconnected longer than the retention")
        await fixture.admin.close()
        try await running.stop()
    }
}
