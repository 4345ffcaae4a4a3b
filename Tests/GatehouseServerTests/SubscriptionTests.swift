import Foundation
import GatehouseClient
import GatehouseServer
import Testing

/// Subscriptions against a live server: fan-out to exactly the affected
/// instances, resume across a restart, snapshots when history is gone,
/// acks and NACKs in the list and convergence views, and who may subscribe.
@Suite(.serialized) struct SubscriptionTests {
    static func fastHeartbeats(_ configuration: inout GatehouseServerConfiguration) {
        configuration.heartbeatInterval = .milliseconds(100)
    }

    @Test func aChangeReachesExactlyTheInstancesItAffects() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fastHeartbeats)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()

        // 200 subscribers across 3 components, several subscriptions per connection.
        let plan = [("kubelet", 120), ("kube-apiserver", 50), ("kube-scheduler", 30)]
        var subscribers: [RecordingSubscriber] = []
        var connections: [GatehouseClient] = []
        for (component, count) in plan {
            let clients = try await (0..<5).asyncMap { _ in try await GatehouseClient.connect(config: try fixture.config(for: component)) }
            connections += clients
            for index in 0..<count {
                subscribers.append(try await RecordingSubscriber.subscribe(on: clients[index % clients.count].connection, component: component, instanceID: "node-\(index)"))
            }
        }
        #expect(subscribers.count == 200)
        for subscriber in subscribers {
            try await subscriber.wait(for: "a snapshot") { $0.first.map { if case .snapshot = $0.message { true } else { false } } ?? false }
        }

        // A component-wide change: every kubelet, nobody else.
        let r1 = try await fixture.set("KubeletOnly", true, component: "kubelet")
        try await Self.settle(subscribers, at: r1)
        for subscriber in subscribers {
            let deltas = subscriber.deltas
            if subscriber.component == "kubelet" {
                #expect(deltas.map(\.revision) == [r1], "\(subscriber.instanceID)")
                #expect(deltas.first?.features.map(\.name) == ["KubeletOnly"])
                #expect(deltas.first?.features.first?.enabled == true)
                #expect(deltas.first?.features.first?.stage == .alpha)
            } else {
                #expect(deltas.isEmpty, "\(subscriber.component)/\(subscriber.instanceID) was pushed a change that does not affect it")
            }
        }

        // One instance's own override: that instance only.
        let r2 = try await fixture.set("Everywhere", true, component: "kubelet", instance: "node-7")
        try await Self.settle(subscribers, at: r2)
        for subscriber in subscribers where subscriber.component == "kubelet" {
            let revisions = subscriber.deltas.map(\.revision)
            #expect(revisions == (subscriber.instanceID == "node-7" ? [r1, r2] : [r1]), "\(subscriber.instanceID)")
        }

        // A parameter change for the schedulers: value and parameter pushed.
        let r3 = try await fixture.set("SchedulerOnly", true, component: "kube-scheduler", params: ["weight": 42])
        try await Self.settle(subscribers, at: r3)
        let total = subscribers.reduce(0) { $0 + $1.deltas.count }
        #expect(total == 120 + 1 + 30)
        for subscriber in subscribers where subscriber.component == "kube-scheduler" {
            let feature = try #require(subscriber.deltas.last?.features.first)
            #expect(feature.name == "SchedulerOnly" && feature.enabled && feature.params["weight"]?.intValue == 42)
        }

        for subscriber in subscribers { subscriber.cancel() }
        for client in connections { await client.close() }
        await fixture.admin.close()
        try await running.stop()
    }

    /// Waits until every subscriber has been told of `revision` (a delta or a heartbeat at or past it).
    static func settle(_ subscribers: [RecordingSubscriber], at revision: UInt64) async throws {
        for subscriber in subscribers {
            try await subscriber.wait(for: "r\(revision)") { messages in
                messages.contains { message in
                    switch message.message {
                    case .delta(let delta): delta.revision >= revision
                    case .heartbeat(let heartbeat): heartbeat.revision >= revision
                    case .snapshot(let snapshot): snapshot.revision >= revision
                    case .prepare, .prepareCancel, nil: false
                    }
                }
            }
        }
    }

    @Test func resumingAfterARestartDeliversEveryMissedChangeOnceInOrder() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fastHeartbeats)
        let port = running.listening.address.port!
        var fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()

        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let first = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-1")
        try await first.wait(for: "a snapshot") { !$0.isEmpty }
        guard case .snapshot(let snapshot) = first.messages.first?.message else {
            Issue.record("the first message is not a snapshot")
            return
        }
        let r0 = snapshot.revision
        first.cancel()
        // Another subscriber stays connected across the shutdown.
        let bystander = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-2")
        try await bystander.wait(for: "a snapshot") { !$0.isEmpty }

        let r1 = try await fixture.set("KubeletOnly", true, component: "kubelet")
        _ = try await fixture.set("Everywhere", true, component: "kube-apiserver")
        let r3 = try await fixture.set("Everywhere", true)
        let r4 = try await fixture.set("KubeletOnly", false, component: "kubelet", instance: "node-1")

        await fixture.admin.close()
        try await running.stop()
        let end = try #require(bystander.end)
        #expect((end as? RPCError)?.code == .unavailable, "a drained subscription ends UNAVAILABLE, got \(String(describing: end))")
        await kubelet.close()

        running = try await GatehouseServerTests.Running.start(dataDirectory: directory, port: port, configure: Self.fastHeartbeats)
        fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.set("SchedulerOnly", true, component: "kube-scheduler")
        let r6 = try await fixture.set("Everywhere", false, component: "kubelet")

        let again = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let resumed = try await RecordingSubscriber.subscribe(on: again.connection, component: "kubelet", instanceID: "node-1", since: r0)
        try await resumed.wait(for: "the catch-up heartbeat") { $0.contains { $0.heartbeatRevision != nil } }
        let messages = resumed.messages
        #expect(!messages.contains { if case .snapshot = $0.message { true } else { false } }, "a resume within history sends no snapshot")
        #expect(resumed.deltas.map(\.revision) == [r1, r3, r4, r6])
        #expect(messages.first { $0.heartbeatRevision != nil }?.heartbeatRevision == r6)
        // Each delta applies on top of the previous one.
        var previous = r0
        for delta in resumed.deltas {
            #expect(delta.baseRevision <= previous && delta.baseRevision >= r0)
            previous = delta.revision
        }
        let last = resumed.deltas.last?.features.first { $0.name == "Everywhere" }
        #expect(last?.enabled == false)
        #expect(resumed.deltas[2].features.first { $0.name == "KubeletOnly" }?.enabled == false)

        resumed.cancel()
        await again.close()
        await fixture.admin.close()
        try await running.stop()
    }

    @Test func aResumeOlderThanTheHistoryGetsASnapshotMarkedReset() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { configuration in
            configuration.subscriptionHistory = 2
        }
        let fixture = try await ComponentFixture.start(running, directory: directory)
        let r0 = try await fixture.importCatalog()
        for index in 0..<4 { try await fixture.set("KubeletOnly", index % 2 == 0, component: "kubelet") }

        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let subscriber = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-1", since: r0)
        try await subscriber.wait(for: "a snapshot") { !$0.isEmpty }
        guard case .snapshot(let snapshot) = subscriber.messages.first?.message else {
            Issue.record("expected a snapshot, got \(String(describing: subscriber.messages.first))")
            return
        }
        #expect(snapshot.reset)
        #expect(snapshot.revision == r0 + 4)
        #expect(snapshot.features.map(\.name) == ["Everywhere", "KubeletOnly"])

        subscriber.cancel()
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    @Test func acksAndNacksShowInTheListAndTheConvergenceView() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: Self.fastHeartbeats)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()
        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let register: Gatehouse_V1_RegisterResponse = try await kubelet.connection.unary(
            "/gatehouse.v1.Components/Register",
            Gatehouse_V1_RegisterRequest.with {
                $0.component = "kubelet"
                $0.instanceID = "node-1"
                $0.version = "1.31.2"
                $0.labels = ["zone": "eu-1a"]
                $0.features = [
                    .with { $0.name = "KubeletOnly"; $0.stage = .beta; $0.defaultEnabled = false },
                    .with { $0.name = "NotInTheCatalog"; $0.stage = .alpha },
                ]
            }
        )
        #expect(register.unknownFeatures == ["NotInTheCatalog"])
        #expect(register.warnings.contains { $0.contains("KubeletOnly") })
        // The catalog now records that this build knows KubeletOnly; registering again changes nothing.
        let definition: Gatehouse_V1_GetFeatureResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Features/Get", Gatehouse_V1_GetFeatureRequest.with { $0.name = "KubeletOnly" })
        #expect(definition.knownBy == ["kubelet 1.31.2"])
        #expect(definition.revision == register.revision)
        let again: Gatehouse_V1_RegisterResponse = try await kubelet.connection.unary(
            "/gatehouse.v1.Components/Register",
            Gatehouse_V1_RegisterRequest.with {
                $0.component = "kubelet"
                $0.instanceID = "node-2"
                $0.version = "1.31.2"
                $0.features = [.with { $0.name = "NotInTheCatalog" }, .with { $0.name = "KubeletOnly" }]
            }
        )
        #expect(again.revision == register.revision, "the same build registering again commits nothing")

        var subscribers: [RecordingSubscriber] = []
        for index in 1...3 {
            subscribers.append(try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kubelet", instanceID: "node-\(index)", version: "1.31.2"))
        }
        for subscriber in subscribers {
            try await subscriber.wait(for: "a snapshot") { !$0.isEmpty }
            guard case .snapshot(let snapshot) = subscriber.messages.first?.message else { continue }
            try await subscriber.ack(snapshot.revision)
        }
        try await Self.eventually("all three converged") {
            let view = try await Self.convergence(fixture.admin, component: "kubelet")
            return view.components.first?.converged == 3
        }

        let revision = try await fixture.set("KubeletOnly", true, component: "kubelet")
        for subscriber in subscribers { try await subscriber.wait(for: "the delta") { _ in subscriber.deltas.count == 1 } }
        try await subscribers[0].ack(revision)
        try await subscribers[1].ack(revision)
        try await subscribers[2].ack(revision, error: .with { $0.reason = "UNSUPPORTED_VALUE"; $0.message = "cannot turn KubeletOnly on"; $0.entries = ["KubeletOnly"] })

        try await Self.eventually("the NACK is recorded") {
            let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest.with { $0.component = "kubelet" })
            return list.instances.first { $0.instanceID == "node-3" }?.nacks.first?.revision == revision
        }
        let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
        #expect(list.instances.map(\.instanceID) == ["node-1", "node-2", "node-3"])
        let first = try #require(list.instances.first)
        #expect(first.connected && first.appliedRevision == revision && first.pushedRevision == revision)
        #expect(first.labels == ["zone": "eu-1a"] && first.version == "1.31.2" && first.identity == "kubelet")
        let third = try #require(list.instances.last)
        #expect(third.nacks.first?.error.reason == "UNSUPPORTED_VALUE")
        #expect(third.nacks.first?.error.entries == ["KubeletOnly"])

        let whole = try #require(try await Self.convergence(fixture.admin, component: "kubelet").components.first)
        #expect(whole.instances == 3 && whole.connected == 3 && whole.converged == 2 && whole.nacked == 1)
        #expect(whole.laggingInstanceIds == ["node-3"])
        #expect(whole.targetRevision == revision)
        let feature = try #require(try await Self.convergence(fixture.admin, component: "kubelet", feature: "KubeletOnly").components.first)
        #expect(feature.converged == 2 && feature.enabled == 3 && feature.targetRevision == revision)
        await #expect(throws: RPCError.self) { _ = try await Self.convergence(fixture.admin, component: "", feature: "Nope") }

        // Disconnecting is visible: the subscription is the liveness.
        subscribers[0].cancel()
        try await Self.eventually("node-1 disconnected") {
            let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest.with { $0.connectedOnly = true })
            return list.instances.map(\.instanceID) == ["node-2", "node-3"]
        }

        for subscriber in subscribers { subscriber.cancel() }
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    @Test func onlyTheComponentItselfSubscribesAndViewersMayOnlyWatch() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        let fixture = try await ComponentFixture.start(running, directory: directory)
        _ = try await fixture.importCatalog()

        let kubelet = try await GatehouseClient.connect(config: try fixture.config(for: "kubelet"))
        let impostor = try await RecordingSubscriber.subscribe(on: kubelet.connection, component: "kube-apiserver", instanceID: "a")
        try await Self.eventually("the impostor is refused") { impostor.end != nil }
        #expect(((impostor.end ?? nil) as? RPCError)?.code == .permissionDenied)

        let viewer = try await GatehouseClient.connect(config: try fixture.config(for: "alice", role: "viewer"))
        let asInstance = try await RecordingSubscriber.subscribe(on: viewer.connection, component: "kubelet", instanceID: "n")
        try await Self.eventually("the viewer's subscription is refused") { asInstance.end != nil }
        #expect(((asInstance.end ?? nil) as? RPCError)?.code == .permissionDenied)

        let watch = try await RecordingSubscriber.subscribe(on: viewer.connection, component: "kubelet", instanceID: "", watchOnly: true)
        try await watch.wait(for: "a snapshot") { !$0.isEmpty }
        let r1 = try await fixture.set("KubeletOnly", true, component: "kubelet")
        try await watch.wait(for: "the delta") { _ in watch.deltas.map(\.revision) == [r1] }
        let list: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
            "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
        #expect(list.instances.isEmpty, "a watch is not an instance's liveness")

        watch.cancel()
        await viewer.close()
        await kubelet.close()
        await fixture.admin.close()
        try await running.stop()
    }

    static func convergence(_ client: GatehouseClient, component: String, feature: String = "") async throws -> Gatehouse_V1_ConvergenceResponse {
        try await client.connection.unary(
            "/gatehouse.v1.Components/Convergence",
            Gatehouse_V1_ConvergenceRequest.with {
                $0.component = component
                $0.feature = feature
            }
        )
    }

    static func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
