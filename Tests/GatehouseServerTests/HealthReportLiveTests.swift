import Foundation
import GatehouseClient
import GatehouseServer
import Testing

/// Health reports on the Subscribe stream, against a live server: kept per
/// instance (the latest one), bounded, shown in Components/List, and refused
/// on a watch-only stream.
@Suite(.serialized) struct HealthReportLiveTests {
    @Test func theLatestReportShowsInTheListBoundedAndStandsAcrossAReconnect() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: SubscriptionTests.fastHeartbeats)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))

        let node = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-1")
        try await node.wait(for: "a snapshot") { !$0.isEmpty }
        #expect(try await Self.instance(fixture, "node-1")?.hasHealth == false, "no report yet: no health shown")

        try await node.report(healthy: false, message: "probe failing\n\u{1B}[31m" + String(repeating: "x", count: 2_000), entries: ["KubeletOnly"], checkedAt: 42)
        try await SubscriptionTests.eventually("the report is recorded") {
            try await Self.instance(fixture, "node-1")?.hasHealth == true
        }
        var health = try #require(try await Self.instance(fixture, "node-1")?.health)
        #expect(!health.healthy && health.entries == ["KubeletOnly"] && health.checkedAtUnixMs == 42)
        #expect(health.message.utf8.count == 1_024, "cut to 1,024 octets like a NACK's message")
        #expect(health.message.hasPrefix("probe failing\n\u{1B}[31m"), "kept as sent; printing escapes it")

        // The latest report replaces the one before.
        try await node.report(healthy: true, message: "ok", entries: [], checkedAt: 43)
        try await SubscriptionTests.eventually("the newer report replaces it") {
            try await Self.instance(fixture, "node-1")?.health.healthy == true
        }

        // It stands across a reconnect until the instance says another.
        try await node.report(healthy: false, message: "crashing", entries: [], checkedAt: 44)
        try await SubscriptionTests.eventually("unhealthy again") { try await Self.instance(fixture, "node-1")?.health.healthy == false }
        node.cancel()
        try await SubscriptionTests.eventually("node-1 disconnected") { try await Self.instance(fixture, "node-1")?.connected == false }
        let again = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-1")
        try await again.wait(for: "a snapshot") { !$0.isEmpty }
        health = try #require(try await Self.instance(fixture, "node-1")?.health)
        #expect(!health.healthy && health.message == "crashing")

        // A watch cannot speak for the instance's health: the call ends with INVALID_ARGUMENT.
        let viewer = try await GatehouseClient.connect(config: try fixture.config(for: "viewer-user", role: "viewer"))
        let watch = try await RecordingSubscriber.subscribe(on: viewer.connection, component: "kubelet", instanceID: "node-1", watchOnly: true)
        try await watch.wait(for: "a snapshot") { !$0.isEmpty }
        try await watch.report(healthy: true, message: "forged", entries: [], checkedAt: 45)
        try await SubscriptionTests.eventually("the watch is ended") { watch.end != nil }
        #expect((watch.end as? RPCError)?.code == .invalidArgument)
        #expect(try await Self.instance(fixture, "node-1")?.health.message == "crashing")

        again.cancel()
        watch.cancel()
        await viewer.close()
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    static func instance(_ fixture: ComponentFixture, _ id: String) async throws -> Gatehouse_V1_ComponentInstance? {
        let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest.with { $0.component = "kubelet" })
        return list.instances.first { $0.instanceID == id }
    }
}

extension RecordingSubscriber {
    /// Sends a health report on the stream, as the SDK's reporter does.
    func report(healthy: Bool, message: String, entries: [String], checkedAt: Int64) async throws {
        try await self.stream.send(
            Gatehouse_V1_SubscribeRequest.with {
                $0.health = .with {
                    $0.healthy = healthy
                    $0.message = message
                    $0.entries = entries
                    $0.checkedAtUnixMs = checkedAt
                }
            }
        )
    }
}
