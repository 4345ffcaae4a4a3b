import Foundation
import GatehouseClient
import GatehouseSDK
import GatehouseServer
import Synchronization
import Testing

/// The component SDK against a live server: boot, pushes, acks and NACKs,
/// a server that goes away (last-known-good state, boot from the file) and
/// comes back (convergence).
@Suite(.serialized) struct SDKLiveTests {
    /// Whether the handler refuses `Everywhere` turning off.
    final class Switch: Sendable {
        private let value = Mutex(false)
        var isOn: Bool { self.value.withLock { $0 } }
        func turnOn() { self.value.withLock { $0 = true } }
    }

    struct Refused: UpdateRejection {
        var reason: String { "TEST_REFUSAL" }
        var entries: [String] { ["Everywhere"] }
        var message: String { "refusing Everywhere=false on purpose" }
    }

    static func component(
        _ fixture: ComponentFixture,
        port: Int,
        bootDeadline: Duration = .seconds(5),
        refuseEverywhereOff: Switch? = nil
    ) throws -> GatehouseComponent {
        let config = try fixture.config(for: "kubelet")
        return GatehouseComponent(
            configuration: .init(
                endpoints: [Endpoint(host: "127.0.0.1", port: port)],
                tls: .init(clientConfig: config),
                identity: .init(component: "kubelet", instanceID: "node-1", version: "1.31.0", labels: ["zone": "a"]),
                features: [
                    KnownFeature("KubeletOnly", stage: .alpha, defaultEnabled: false),
                    KnownFeature("Everywhere", stage: .beta, defaultEnabled: false),
                ],
                lastKnownGoodPath: "\(fixture.directory)/kubelet-state.json",
                bootDeadline: bootDeadline,
                backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(300)),
                offlineTTL: .seconds(60),
                idleTimeout: .seconds(5),
                connectTimeout: .seconds(2),
                handler: { update in
                    let turnsOff = update.features.contains { $0.name == "Everywhere" && $0.after?.enabled == false && $0.before?.enabled == true }
                    if update.source == .server, turnsOff, refuseEverywhereOff?.isOn == true { throw Refused() }
                }
            )
        )
    }

    @Test func bootsLiveFollowsChangesSurvivesARestartOnItsLastKnownGoodStateAndConverges() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: SubscriptionTests.fastHeartbeats)
        let port = running.listening.address.port!
        var fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        try await fixture.set("KubeletOnly", true, component: "kubelet")

        let refuse = Switch()
        let component = try Self.component(fixture, port: port, refuseEverywhereOff: refuse)
        let runner = Task { try await component.run() }
        guard case .live = await component.waitForBoot() else {
            Issue.record("the component did not boot live")
            return
        }
        #expect(component.isEnabled("KubeletOnly"))
        #expect(!component.isEnabled("Everywhere"))
        #expect(!component.isStale)

        let r2 = try await fixture.set("Everywhere", true)
        try await SubscriptionTests.eventually("the change reaches the SDK") { component.isEnabled("Everywhere") }
        try await SubscriptionTests.eventually("the ack reaches the server") {
            let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
            return list.instances.first?.appliedRevision == r2 && list.instances.first?.labels == ["zone": "a"]
        }

        // The server goes away: reads keep the last state, marked stale.
        await fixture.admin.close()
        try await running.stop()
        try await SubscriptionTests.eventually("the SDK notices") { component.isStale }
        #expect(component.isEnabled("KubeletOnly") && component.isEnabled("Everywhere"))

        // Another process booting now, with no server, starts from the last-known-good file.
        let rebooted = try Self.component(fixture, port: port, bootDeadline: .milliseconds(300))
        let rebootRunner = Task { try await rebooted.run() }
        let outcome = await rebooted.waitForBoot()
        guard case .stale(.lastKnownGood(let revision, _)) = outcome else {
            Issue.record("expected a stale boot from the file, got \(outcome)")
            return
        }
        #expect(revision == r2)
        #expect(rebooted.isEnabled("KubeletOnly") && rebooted.isEnabled("Everywhere") && rebooted.isStale)
        rebootRunner.cancel()

        // The server comes back with a change made meanwhile: the SDK converges.
        running = try await GatehouseServerTests.Running.start(dataDirectory: directory, port: port, configure: SubscriptionTests.fastHeartbeats)
        fixture = try await ComponentFixture.start(running, directory: directory)
        let r3 = try await fixture.set("KubeletOnly", false, component: "kubelet")
        try await SubscriptionTests.eventually("the SDK converges after the restart", timeout: .seconds(20)) {
            !component.isEnabled("KubeletOnly") && !component.isStale && component.snapshot.revision == r3
        }

        // A handler that throws NACKs: the state stays, the server records why.
        refuse.turnOn()
        let r4 = try await fixture.set("Everywhere", false)
        try await SubscriptionTests.eventually("the NACK is recorded") {
            let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
            return list.instances.first?.nacks.first.map { $0.revision == r4 && $0.error.reason == "TEST_REFUSAL" } ?? false
        }
        #expect(component.isEnabled("Everywhere"), "a refused update leaves the previous state")

        runner.cancel()
        _ = await runner.result
        await fixture.admin.close()
        try await running.stop()
    }
}
