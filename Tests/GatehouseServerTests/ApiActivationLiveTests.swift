import Foundation
import GatehouseClient
import GatehouseSDK
import GatehouseServer
import Synchronization
import Testing

/// Apis/Activate against a live server, with in-process SDK replicas of
/// kube-apiserver answering the Prepare (Kubernetes #96486: HA apiservers
/// must not disagree about which APIs exist while one is being enabled).
@Suite(.serialized) struct ApiActivationLiveTests {
    static let api = Gatehouse_V1_ApiRef.with { $0.group = "batch"; $0.version = "v1beta1" }

    /// What one replica saw: the Prepares it was asked, the cancels it was told, the API updates it applied.
    final class Replica: Sendable {
        let id: String
        private let held = Mutex<GatehouseComponent?>(nil)
        private let log = Mutex<(prepares: [PrepareRequest], cancels: [String], apiRevisions: [UInt64])>(([], [], []))

        init(id: String) {
            self.id = id
        }

        var component: GatehouseComponent {
            get { self.held.withLock { $0! } }
            set { self.held.withLock { $0 = newValue } }
        }

        var prepares: [PrepareRequest] { self.log.withLock { $0.prepares } }
        var cancels: [String] { self.log.withLock { $0.cancels } }
        var apiRevisions: [UInt64] { self.log.withLock { $0.apiRevisions } }

        func prepared(_ request: PrepareRequest) { self.log.withLock { $0.prepares.append(request) } }
        func cancelled(_ id: String) { self.log.withLock { $0.cancels.append(id) } }
        func applied(_ update: StateUpdate) {
            guard update.source == .server, !update.apis.isEmpty else { return }
            self.log.withLock { $0.apiRevisions.append(update.revision) }
        }
    }

    /// A started server with the fixture catalog (batch/v1beta1 applies to kube-apiserver) and its admin.
    struct World {
        let directory: String
        let running: GatehouseServerTests.Running
        let fixture: ComponentFixture
        var replicas: [Replica] = []
        var runners: [Task<Void, any Error>] = []

        static func start() async throws -> World {
            let directory = try GatehouseServerTests.temporaryDirectory()
            let running = try await GatehouseServerTests.Running.start(dataDirectory: directory, configure: SubscriptionTests.fastHeartbeats)
            let fixture = try await ComponentFixture.start(running, directory: directory)
            _ = try await fixture.importCatalog()
            return World(directory: directory, running: running, fixture: fixture)
        }

        /// Starts an SDK replica of kube-apiserver; `answer` nil leaves it without a prepare handler.
        mutating func replica(_ id: String, answer: (@Sendable (PrepareRequest) async throws -> PrepareAnswer)?) async throws -> Replica {
            let replica = Replica(id: id)
            let component = GatehouseComponent(
                configuration: .init(
                    endpoints: [Endpoint(host: "127.0.0.1", port: self.running.listening.address.port!)],
                    tls: .init(clientConfig: try self.fixture.config(for: "kube-apiserver")),
                    identity: .init(component: "kube-apiserver", instanceID: id, version: "1.31.0"),
                    apis: [try KnownAPI(APIRef(parsing: "batch/v1beta1"), stage: .beta)],
                    lastKnownGoodPath: "\(self.directory)/\(id)-state.json",
                    bootDeadline: .seconds(10),
                    backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(300)),
                    offlineTTL: .seconds(60),
                    idleTimeout: .seconds(5),
                    connectTimeout: .seconds(2),
                    handler: { update in replica.applied(update) }
                )
            )
            replica.component = component
            if let answer {
                component.onPrepare(
                    { request in
                        replica.prepared(request)
                        return try await answer(request)
                    },
                    cancelled: { id, _ in replica.cancelled(id) }
                )
            }
            self.runners.append(Task { try await component.run() })
            guard case .live = await component.waitForBoot() else { throw WaitTimeout(description: "\(id) did not boot live") }
            self.replicas.append(replica)
            return replica
        }

        /// Waits until the server counts `count` connected kube-apiserver replicas.
        func connected(_ count: Int) async throws {
            try await SubscriptionTests.eventually("\(count) replicas are connected") {
                let list: Gatehouse_V1_ListComponentsResponse = try await self.fixture.admin.connection.unary(
                    "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest.with { $0.component = "kube-apiserver"; $0.connectedOnly = true })
                return list.instances.count == count
            }
        }

        func revision() async throws -> UInt64 {
            let list: Gatehouse_V1_ListComponentsResponse = try await self.fixture.admin.connection.unary(
                "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
            return list.revision
        }

        func stop() async throws {
            for runner in self.runners { runner.cancel() }
            for runner in self.runners { _ = await runner.result }
            await self.fixture.admin.close()
            try await self.running.stop()
            try? FileManager.default.removeItem(atPath: self.directory)
        }
    }

    /// The refusal's status and ErrorDetails reason.
    static func refusal(_ body: () async throws -> Void) async -> (code: RPCStatus.Code, reason: String, message: String)? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            let details = try? Gatehouse_V1_ErrorDetails(serializedBytes: error.status.details)
            return (error.code, details?.reason ?? "", error.message)
        } catch {
            return (.unknown, "", "\(error)")
        }
    }

    @Test func everyReadyReplicaGetsTheChangeAtOneRevision() async throws {
        var world = try await World.start()
        let ids = ["apiserver-1", "apiserver-2", "apiserver-3"]
        for id in ids { _ = try await world.replica(id) { _ in .ready } }
        try await world.connected(3)

        let response = try await world.fixture.admin.activateAPI(
            Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(10), reason: "serve CronJobs v1beta1")
        #expect(response.prepared == ids)
        for replica in world.replicas {
            #expect(replica.prepares.count == 1)
            #expect(replica.prepares.first?.apis == [PreparedAPI(api: "batch/v1beta1", enabled: true)], "the Prepare says what the APIs will be")
            #expect(replica.cancels.isEmpty)
            try await SubscriptionTests.eventually("\(replica.id) serves batch/v1beta1") { replica.component.isServed("batch/v1beta1") }
        }
        // Each replica was pushed the change exactly once, at the revision the call answered.
        try await Task.sleep(for: .milliseconds(300))  // room for a wrong second delta to show up
        for replica in world.replicas {
            #expect(replica.apiRevisions == [response.revision], "\(replica.id) got \(replica.apiRevisions)")
        }
        #expect(try await world.revision() == response.revision)
        try await world.stop()
    }

    @Test func oneRefusalCancelsThePrepareEverywhereAndCommitsNothing() async throws {
        var world = try await World.start()
        _ = try await world.replica("apiserver-1") { _ in .ready }
        _ = try await world.replica("apiserver-2") { _ in .notReady("etcd storage for batch/v1beta1 is not migrated") }
        _ = try await world.replica("apiserver-3") { _ in .ready }
        try await world.connected(3)
        let before = try await world.revision()

        let refusal = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(10), reason: "try")
        }
        #expect(refusal?.code == .aborted && refusal?.reason == "PREPARE_REFUSED", "\(String(describing: refusal))")
        #expect(refusal?.message.contains("apiserver-2: etcd storage for batch/v1beta1 is not migrated") == true, "\(refusal?.message ?? "")")
        for replica in world.replicas {
            try await SubscriptionTests.eventually("\(replica.id) is told the Prepare is off") {
                replica.cancels == replica.prepares.map(\.id) && replica.cancels.count == 1
            }
            #expect(!replica.component.isServed("batch/v1beta1"))
            #expect(replica.apiRevisions.isEmpty)
        }
        #expect(try await world.revision() == before, "nothing was committed")
        try await world.stop()
    }

    @Test func aReplicaWithoutAPrepareHandlerIsNamed() async throws {
        var world = try await World.start()
        _ = try await world.replica("apiserver-1") { _ in .ready }
        _ = try await world.replica("apiserver-legacy", answer: nil)
        try await world.connected(2)
        let refusal = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(10), reason: "try")
        }
        #expect(refusal?.reason == "PREPARE_REFUSED")
        #expect(refusal?.message.contains("apiserver-legacy: no prepare handler") == true, "\(refusal?.message ?? "")")
        try await world.stop()
    }

    @Test func silenceUntilTheDeadlineAbortsAndCancelsAtEveryReplica() async throws {
        var world = try await World.start()
        _ = try await world.replica("apiserver-1") { _ in .ready }
        _ = try await world.replica("apiserver-2") { _ in .ready }
        // A replica whose client never answers a Prepare (an SDK from before two-phase activation).
        let silent = try await RecordingSubscriber.subscribe(on: world.fixture.admin.connection, component: "kube-apiserver", instanceID: "apiserver-old")
        try await world.connected(3)
        let before = try await world.revision()

        let refusal = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .milliseconds(500), reason: "try")
        }
        #expect(refusal?.code == .aborted && refusal?.reason == "PREPARE_TIMEOUT", "\(String(describing: refusal))")
        #expect(refusal?.message.contains("apiserver-old: no answer by the deadline") == true, "\(refusal?.message ?? "")")
        #expect(refusal?.message.contains("apiserver-1") == false, "only the silent replica is named")
        try await silent.wait(for: "the Prepare, then its cancel") { messages in
            messages.contains { if case .prepare = $0.message { true } else { false } }
                && messages.contains { if case .prepareCancel = $0.message { true } else { false } }
        }
        for replica in world.replicas {
            try await SubscriptionTests.eventually("\(replica.id) is told the Prepare is off") { replica.cancels.count == 1 }
            #expect(replica.apiRevisions.isEmpty)
        }
        #expect(silent.deltas.isEmpty)
        #expect(try await world.revision() == before, "nothing was committed")
        silent.cancel()
        try await world.stop()
    }

    @Test func aReplicaLeavingMidPrepareAbortsAndWatchesAreNeverAsked() async throws {
        var world = try await World.start()
        let admin = world.fixture.admin
        let ready = try await world.replica("apiserver-1") { _ in .ready }
        // A watch of the same instance: pushed the same state, but not a replica.
        let watch = try await RecordingSubscriber.subscribe(on: admin.connection, component: "kube-apiserver", instanceID: "apiserver-1", watchOnly: true)
        let leaving = try await RecordingSubscriber.subscribe(on: admin.connection, component: "kube-apiserver", instanceID: "apiserver-2")
        try await world.connected(2)
        let before = try await world.revision()

        let call = Task {
            try await admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(20), reason: "try")
        }
        try await leaving.wait(for: "the Prepare") { $0.contains { if case .prepare = $0.message { true } else { false } } }
        leaving.cancel()
        let refusal = await Self.refusal { _ = try await call.value }
        #expect(refusal?.code == .aborted && refusal?.reason == "PREPARE_REFUSED", "\(String(describing: refusal))")
        #expect(refusal?.message.contains("apiserver-2: disconnected before answering") == true, "\(refusal?.message ?? "")")
        try await SubscriptionTests.eventually("the ready replica is told the Prepare is off") { ready.cancels.count == 1 }
        #expect(ready.prepares.count == 1, "the replica was asked once, not once more for its watch")
        #expect(!watch.messages.contains { if case .prepare = $0.message { true } else { false } }, "a watch is never asked")
        #expect(try await world.revision() == before, "nothing was committed")
        watch.cancel()
        try await world.stop()
    }

    @Test func withNoLiveReplicaTheChangeCommitsDirectly() async throws {
        let world = try await World.start()
        let before = try await world.revision()
        let response = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: nil, reason: "no replicas yet")
        #expect(response.prepared.isEmpty)
        #expect(response.revision == before + 1)
        // What was committed is the component override a Set would write.
        let explained: Gatehouse_V1_ExplainResponse = try await world.fixture.admin.connection.unary(
            "/gatehouse.v1.Features/Explain", Gatehouse_V1_ExplainRequest.with { $0.component = "kube-apiserver" })
        let entry = explained.entries.first { if case .api(let api) = $0.target { api.api.version == "v1beta1" } else { false } }
        guard case .api(let api) = entry?.target else {
            Issue.record("batch/v1beta1 is not explained for kube-apiserver")
            return
        }
        #expect(api.enabled)
        #expect(entry?.reason.scope.component.component == "kube-apiserver", "decided by the component override")
        try await world.stop()
    }

    @Test func oneActivationPerComponentAndCancellingTheCallCancelsThePrepare() async throws {
        let world = try await World.start()
        let silent = try await RecordingSubscriber.subscribe(on: world.fixture.admin.connection, component: "kube-apiserver", instanceID: "apiserver-old")
        try await world.connected(1)
        let before = try await world.revision()
        let first = Task {
            try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(60), reason: "slow")
        }
        try await silent.wait(for: "the Prepare") { $0.contains { if case .prepare = $0.message { true } else { false } } }

        let second = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: false, timeout: .seconds(1), reason: "racing")
        }
        #expect(second?.code == .failedPrecondition && second?.reason == "ACTIVATION_IN_PROGRESS", "\(String(describing: second))")

        first.cancel()
        try await silent.wait(for: "the cancel") { $0.contains { if case .prepareCancel = $0.message { true } else { false } } }
        #expect(try await world.revision() == before, "nothing was committed")
        // The slot is free again: the next activation runs (and times out on the silent replica).
        let third = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .milliseconds(200), reason: "again")
        }
        #expect(third?.reason == "PREPARE_TIMEOUT", "\(String(describing: third))")
        silent.cancel()
        try await world.stop()
    }

    @Test func refusalsComeBeforeAnyPrepare() async throws {
        let world = try await World.start()
        let silent = try await RecordingSubscriber.subscribe(on: world.fixture.admin.connection, component: "kube-apiserver", instanceID: "apiserver-1")
        try await world.connected(1)
        let unknown = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(
                .with { $0.group = "batch"; $0.version = "v9" }, component: "kube-apiserver", enabled: true, timeout: .seconds(5), reason: "x")
        }
        #expect(unknown?.reason == "UNKNOWN_API", "\(String(describing: unknown))")
        let elsewhere = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kubelet", enabled: true, timeout: .seconds(5), reason: "x")
        }
        #expect(elsewhere?.reason == "NOT_APPLICABLE", "\(String(describing: elsewhere))")
        let tooLong = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(601), reason: "x")
        }
        #expect(tooLong?.reason == "INVALID_FIELD", "\(String(describing: tooLong))")
        let badReason = await Self.refusal {
            _ = try await world.fixture.admin.activateAPI(Self.api, component: "kube-apiserver", enabled: true, timeout: .seconds(5), reason: "two\nlines")
        }
        #expect(badReason?.reason == "INVALID_REASON", "\(String(describing: badReason))")
        try await Task.sleep(for: .milliseconds(200))
        #expect(!silent.messages.contains { if case .prepare = $0.message { true } else { false } }, "no replica was asked")
        silent.cancel()
        try await world.stop()
    }
}
