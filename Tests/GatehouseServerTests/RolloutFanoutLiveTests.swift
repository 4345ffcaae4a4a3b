import Foundation
import GatehouseClient
import GatehouseCore
import Testing

@testable import GatehouseServer

/// A rollout seen from the instances' side of a live server: the canaries
/// (chosen by bucket AND registered labels) get the rollout's value, Explain
/// of an instance says which rollout decided and why it is a canary, and
/// Convergence of the feature counts the canaries as enabled.
@Suite struct RolloutFanoutLiveTests {
    static let kubelets = 40

    @Test func explainAndConvergenceSeeTheCanariesOfARolloutWithLabels() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: SubscriptionTests.fastHeartbeats)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))

        // Even nodes registered in zone a, odd ones in zone b; all subscribed and acking.
        var subscribers: [String: RecordingSubscriber] = [:]
        for index in 0..<Self.kubelets {
            let id = "node-\(index)"
            let _: Gatehouse_V1_RegisterResponse = try await kubelet.connection.unary(
                "/gatehouse.v1.Components/Register",
                Gatehouse_V1_RegisterRequest.with {
                    $0.component = "kubelet"
                    $0.instanceID = id
                    $0.version = "1.31.2"
                    $0.labels = ["zone": index % 2 == 0 ? "a" : "b"]
                }
            )
            let subscriber = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: id, version: "1.31.2")
            try await subscriber.wait(for: "a snapshot") { !$0.isEmpty }
            if case .snapshot(let snapshot)? = subscriber.messages.first?.message { try await subscriber.ack(snapshot.revision) }
            subscribers[id] = subscriber
        }

        // A rollout of Everywhere on zone a, its first step half of it, baking for an hour (it stays there).
        let started = try await fixture.admin.startRollout(
            .with {
                $0.reason = "test"
                $0.spec = .with {
                    $0.name = "r7"
                    $0.target = .with { $0.feature = "Everywhere" }
                    $0.enabled = true
                    $0.component = "kubelet"
                    $0.labels = ["zone": "a"]
                    $0.steps = [.with { $0.percent = 50; $0.bakeMs = 3_600_000 }, .with { $0.percent = 100 }]
                }
            }
        )
        func isCanary(_ index: Int) -> Bool { index % 2 == 0 && Rollout.bucket(rollout: "r7", instanceID: "node-\(index)") < 0.5 }
        let canaries = (0..<Self.kubelets).filter(isCanary)
        let unlabelledLow = try #require((0..<Self.kubelets).first { $0 % 2 == 1 && Rollout.bucket(rollout: "r7", instanceID: "node-\($0)") < 0.5 })
        let labelledHigh = try #require((0..<Self.kubelets).first { $0 % 2 == 0 && !isCanary($0) })
        #expect(!canaries.isEmpty)

        for index in canaries {
            let subscriber = subscribers["node-\(index)"]!
            try await subscriber.wait(for: "the rollout's delta") { _ in subscriber.deltas.contains { $0.revision == started.revision } }
            let delta = try #require(subscriber.deltas.last)
            #expect(delta.features.map(\.name) == ["Everywhere"] && delta.features.first?.enabled == true)
            try await subscriber.ack(started.revision)
        }
        // The rest are sent nothing for it: a heartbeat at its revision comes after any delta it would have had.
        for index in (0..<Self.kubelets) where !isCanary(index) {
            let subscriber = subscribers["node-\(index)"]!
            try await subscriber.wait(for: "a heartbeat at the rollout's revision") { $0.contains { ($0.heartbeatRevision ?? 0) >= started.revision } }
            #expect(subscriber.deltas.isEmpty, "node-\(index) is not a canary")
        }

        func explain(_ index: Int) async throws -> Gatehouse_V1_Decision {
            let response = try await fixture.admin.explain(.with {
                $0.component = "kubelet"
                $0.instanceID = "node-\(index)"
                $0.features = ["Everywhere"]
            })
            return try #require(response.entries.first).reason
        }
        let canary = try await explain(canaries[0])
        #expect(canary.rule == .rollout && canary.rollout == "r7")
        #expect(canary.text.hasPrefix("rollout r7 step 1/2 (50%), bucket 0."), "\(canary.text)")
        let outsideTheLabels = try await explain(unlabelledLow)
        #expect(outsideTheLabels.rule != .rollout, "its bucket is low, but it registered zone b: \(outsideTheLabels.text)")
        let notYet = try await explain(labelledHigh)
        #expect(notYet.rule != .rollout, "\(notYet.text)")

        try await SubscriptionTests.eventually("every instance converged") {
            let view = try await SubscriptionTests.convergence(fixture.admin, component: "kubelet", feature: "Everywhere")
            return view.components.first?.converged == UInt32(Self.kubelets)
        }
        let view = try #require(try await SubscriptionTests.convergence(fixture.admin, component: "kubelet", feature: "Everywhere").components.first)
        #expect(view.enabled == UInt32(canaries.count) && view.targetRevision == started.revision)

        for subscriber in subscribers.values { subscriber.cancel() }
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }
}
