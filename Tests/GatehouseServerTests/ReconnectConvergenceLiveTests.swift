import Foundation
import GatehouseClient
import GatehouseSDK
import GatehouseServer
import Testing

/// A reconnected instance that holds the latest state shows as converged at
/// once, not only after the next change that reaches it (PROTOCOL.md 6.1).
///
/// The lag arose when the last batches before the reconnect changed nothing
/// for the instance: it resumes from the revision it last applied, its new
/// subscription group is formed at the server's current revision, and it is
/// sent no delta to ack.
@Suite(.serialized) struct ReconnectConvergenceLiveTests {
    /// Heartbeats far apart: a heartbeat would bring the SDK's resume point to
    /// the current revision before the restart, hiding the case under test.
    static func rareHeartbeats(_ configuration: inout GatehouseServerConfiguration) {
        configuration.heartbeatInterval = .seconds(600)
    }

    static func convergence(_ fixture: ComponentFixture, component: String) async throws -> Gatehouse_V1_ComponentConvergence? {
        let response: Gatehouse_V1_ConvergenceResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/Convergence",
            Gatehouse_V1_ConvergenceRequest.with { $0.component = component }
        )
        return response.components.first
    }

    static func instances(_ fixture: ComponentFixture) async throws -> [Gatehouse_V1_ComponentInstance] {
        let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
        return list.instances
    }

    @Test func anSDKInstanceShowsConvergedRightAfterAServerRestartWithoutANewChange() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.rareHeartbeats)
        let port = running.listening.address.port!
        var fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        _ = try await fixture.set("KubeletOnly", true, component: "kubelet")

        var configuration = try SDKLiveTests.component(fixture, port: port).configuration
        configuration.idleTimeout = .seconds(1200)
        let component = GatehouseComponent(configuration: configuration)
        let runner = Task { try await component.run() }
        defer { runner.cancel() }
        guard case .live = await component.waitForBoot() else {
            Issue.record("the component did not boot live")
            return
        }
        // Its registration recorded its build (a revision): it is at the server's revision once it acked its snapshot.
        var applied: UInt64 = 0
        try await SubscriptionTests.eventually("the instance applied the server's revision", timeout: .seconds(20)) {
            let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
            applied = list.revision
            return list.instances.first?.appliedRevision == list.revision
        }
        // The last change before the restart is not the kubelet's: it is pushed nothing, and resumes from r`applied`.
        let current = try await fixture.set("SchedulerOnly", true, component: "kube-scheduler")
        #expect(current > applied)

        await fixture.admin.close()
        try await running.stop()
        running = try await GatehouseServerTests.Running.start(dataDirectory: directory, port: port, configure: Self.rareHeartbeats)
        fixture = try await ComponentFixture.start(running, directory: directory)

        try await SubscriptionTests.eventually("the instance reconnects", timeout: .seconds(30)) {
            try await Self.instances(fixture).first?.connected == true
        }
        try await SubscriptionTests.eventually("status shows it converged at r\(current) with no new change", timeout: .seconds(20)) {
            let entry = try await Self.convergence(fixture, component: "kubelet")
            return entry?.connected == 1 && entry?.converged == 1 && entry?.laggingInstanceIds == []
        }
        let instance = try #require(try await Self.instances(fixture).first)
        #expect(instance.appliedRevision == current, "applied is the server's revision, not the resume point r\(applied)")
        #expect(try await Self.convergence(fixture, component: "kubelet")?.minAppliedRevision == current)

        runner.cancel()
        _ = await runner.result
        await fixture.admin.close()
        try await running.stop()
    }

    @Test func theAckOfTheLastReplayedDeltaCountsAsTheCurrentRevision() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.rareHeartbeats)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let start = try await fixture.importCatalog()

        let first = try await RecordingSubscriber.subscribe(on: fixture.admin.connection, component: "kubelet", instanceID: "node-1")
        try await first.wait(for: "the snapshot", timeout: .seconds(20)) { $0.contains { if case .snapshot = $0.message { true } else { false } } }
        try await first.ack(start)
        try await SubscriptionTests.eventually("the ack is recorded") { try await Self.instances(fixture).first?.appliedRevision == start }
        first.cancel()
        try await SubscriptionTests.eventually("it disconnects") { try await Self.instances(fixture).first?.connected == false }

        // Missed: one change of its own, then one of another component's.
        let own = try await fixture.set("KubeletOnly", true, component: "kubelet")
        let current = try await fixture.set("SchedulerOnly", true, component: "kube-scheduler")

        let resumed = try await RecordingSubscriber.subscribe(on: fixture.admin.connection, component: "kubelet", instanceID: "node-1", since: start)
        try await resumed.wait(for: "the replay and the caught-up heartbeat", timeout: .seconds(20)) { messages in
            messages.contains { $0.heartbeatRevision == current }
        }
        #expect(resumed.deltas.map(\.revision) == [own], "only its own change is replayed")
        // Until it acks the replay it holds r`start`: lagging.
        let before = try #require(try await Self.convergence(fixture, component: "kubelet"))
        #expect(before.converged == 0 && before.laggingInstanceIds == ["node-1"])

        try await resumed.ack(own)
        try await SubscriptionTests.eventually("the ack of r\(own) counts as r\(current)") {
            try await Self.instances(fixture).first?.appliedRevision == current
        }
        let after = try #require(try await Self.convergence(fixture, component: "kubelet"))
        #expect(after.converged == 1 && after.laggingInstanceIds.isEmpty)

        resumed.cancel()
        await fixture.admin.close()
        try await running.stop()
    }
}
