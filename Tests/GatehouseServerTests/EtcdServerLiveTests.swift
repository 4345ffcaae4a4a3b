import Foundation
import GatehouseClient
import GatehouseEtcd
import GatehouseServer
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

/// Several real servers over one real etcd (``LocalEtcd``), each on port 0:
/// a change through one reaches subscribers on another, a subscriber resumes
/// on another server from its revision, one elected server drives rollouts and
/// another takes over when it goes, and a server whose etcd is gone answers
/// UNAVAILABLE within its etcd timeout rather than hanging.
@Suite(.serialized, .localEtcd) struct EtcdServerLiveTests {
    /// What one server logged, to tell which server did what.
    final class Captured: Sendable {
        let events = Mutex<[(message: String, metadata: Logger.Metadata)]>([])

        var logger: Logger {
            Logger(label: "test.gatehouse") { _ in Handler(captured: self) }
        }

        /// The rollouts this server committed a transition of.
        func transitions(of rollout: String) -> Int {
            self.events.withLock { $0.count { $0.message == "rollout transition" && $0.metadata["rollout"]?.description == rollout } }
        }

        struct Handler: LogHandler {
            let captured: Captured
            var logLevel: Logger.Level = .info
            var metadata: Logger.Metadata = [:]
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { self.metadata[key] }
                set { self.metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
                self.captured.events.withLock { $0.append((event.message.description, merged)) }
            }
        }
    }

    /// One etcd and the servers over it: the first makes the development PKI
    /// and policy, the others are given the same (one CA, one policy, as a real
    /// deployment shares them), each with its own data directory.
    final class Cluster: Sendable {
        let etcd: LocalEtcd
        let prefix: String
        let root: String
        let servers = Mutex<[String: (running: GatehouseServerTests.Running, captured: Captured)]>([:])

        init(etcd: LocalEtcd, prefix: String, root: String) {
            self.etcd = etcd
            self.prefix = prefix
            self.root = root
        }

        static func start() async throws -> Cluster {
            let etcd = try await LocalEtcd.start()
            return Cluster(etcd: etcd, prefix: "/gatehouse-\(UUID().uuidString.prefix(8))/", root: try GatehouseServerTests.temporaryDirectory())
        }

        var firstDirectory: String { "\(self.root)/a" }

        func settings(_ id: String, timeout: Duration) -> EtcdBackendSettings {
            EtcdBackendSettings(
                endpoints: self.etcd.endpoints, trustRoots: self.etcd.caPath,
                certificateChain: self.etcd.clientCertificatePath, privateKey: self.etcd.clientKeyPath,
                prefix: self.prefix, callTimeout: timeout, serverID: id
            )
        }

        /// Starts server `id` (the first one started makes the PKI); returns it.
        @discardableResult
        func start(_ id: String, timeout: Duration = .seconds(3)) async throws -> GatehouseServerTests.Running {
            let first = self.servers.withLock { $0.isEmpty }
            let directory = first ? self.firstDirectory : "\(self.root)/\(id)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = GatehouseServerConfiguration()
            configuration.dataDirectory = directory
            configuration.port = 0
            configuration.store = .etcd(self.settings(id, timeout: timeout))
            configuration.heartbeatInterval = .milliseconds(200)
            configuration.rolloutTickInterval = .milliseconds(25)
            if !first {
                configuration.tls = DevelopmentPKI(dataDirectory: self.firstDirectory).serverFiles
                configuration.policyPath = "\(self.firstDirectory)/policy.yaml"
            }
            let captured = Captured()
            let listening = NIOLockedValueBox<GatehouseServer.Listening?>(nil)
            let server = GatehouseServer(configuration: configuration, logger: captured.logger) { value in
                listening.withLockedValue { $0 = value }
            }
            let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: captured.logger))
            let task = Task { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while listening.withLockedValue({ $0 }) == nil {
                if task.isCancelled || ContinuousClock.now > deadline {
                    throw WaitTimeout(description: "server \(id) did not start: \(captured.events.withLock { $0.suffix(5).map(\.message) })")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            let running = GatehouseServerTests.Running(group: group, task: task, listening: listening.withLockedValue { $0! }, server: server)
            self.servers.withLock { $0[id] = (running, captured) }
            return running
        }

        func running(_ id: String) -> GatehouseServerTests.Running { self.servers.withLock { $0[id]!.running } }
        func captured(_ id: String) -> Captured { self.servers.withLock { $0[id]!.captured } }

        func stop(_ id: String) async throws {
            guard let running = self.servers.withLock({ $0.removeValue(forKey: id)?.running }) else { return }
            try await running.stop()
        }

        /// The admin's client config for server `id`.
        func adminConfig(_ id: String) throws -> ClientConfig {
            var config = try ClientConfigLoader.load(path: DevelopmentPKI(dataDirectory: self.firstDirectory).adminConfig)
            config.server = "127.0.0.1:\(self.running(id).listening.address.port!)"
            return config
        }

        /// The first server's fixture (CA, catalog, admin), on its own connection.
        func fixture() async throws -> ComponentFixture {
            let first = try #require(self.servers.withLock { $0.values.first { $0.running.listening.adminConfig != nil }?.running })
            return try await ComponentFixture.start(first, directory: self.firstDirectory)
        }

        /// `etcdctl get --print-value-only` of a key under the prefix; nil when absent.
        func value(_ key: String) async throws -> String? {
            let (status, output) = try await self.etcd.etcdctl(["get", "\(self.prefix)\(key)", "--print-value-only"])
            guard status == 0 else { throw WaitTimeout(description: "etcdctl get failed: \(output)") }
            let value = output.trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }

        /// Stops every server, then etcd, and removes the directories; also after a failed test.
        func stop() async {
            for id in self.servers.withLock({ Array($0.keys) }) { try? await self.stop(id) }
            self.etcd.stop()
            try? FileManager.default.removeItem(atPath: self.root)
        }
    }

    static func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// `fixture`'s Set, sent to another server.
    static func set(_ feature: String, _ enabled: Bool, through client: GatehouseClient) async throws -> UInt64 {
        let response: Gatehouse_V1_SetResponse = try await client.connection.unary(
            "/gatehouse.v1.Features/Set",
            Gatehouse_V1_SetRequest.with {
                $0.reason = "test"
                $0.changes = [.with { $0.feature = feature; $0.enabled = enabled; $0.scope = .with { $0.global = .init() } }]
            }
        )
        return response.revision
    }

    @Test func aSetThroughOneServerReachesASubscriberOnAnother() async throws {
        let cluster = try await Cluster.start()
        do {
            try await cluster.start("a")
            try await cluster.start("b")
            let fixture = try await cluster.fixture()
            let imported = try await fixture.importCatalog()

            var kubeletOnB = try fixture.config(for: "kubelet")
            kubeletOnB.server = try cluster.adminConfig("b").server
            let client = try await GatehouseClient.connect(config: kubeletOnB)
            #expect(try await client.info().serverID == "b", "Info names the server among several")
            let subscriber = try await RecordingSubscriber.subscribe(on: client.connection, component: "kubelet", instanceID: "node-1")
            try await subscriber.wait(for: "a snapshot at the import") { messages in
                messages.contains { if case .snapshot(let snapshot) = $0.message { snapshot.revision >= imported } else { false } }
            }

            let revision = try await fixture.set("Everywhere", true)
            try await subscriber.wait(for: "the change made through a") { _ in
                subscriber.deltas.contains { $0.revision == revision && $0.features.contains { $0.name == "Everywhere" && $0.enabled } }
            }
            #expect(imported < revision)
            subscriber.cancel()
            await client.close()
            await fixture.admin.close()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func everyServerListsEveryInstanceWithItsServerUntilThatServerLeaves() async throws {
        let cluster = try await Cluster.start()
        do {
            try await cluster.start("a")
            try await cluster.start("b")
            let fixture = try await cluster.fixture()
            _ = try await fixture.importCatalog()

            var kubeletOnB = try fixture.config(for: "kubelet")
            kubeletOnB.server = try cluster.adminConfig("b").server
            let client = try await GatehouseClient.connect(config: kubeletOnB)
            let subscriber = try await RecordingSubscriber.subscribe(on: client.connection, component: "kubelet", instanceID: "node-on-b")
            try await subscriber.wait(for: "a snapshot") { !$0.isEmpty }

            // Listed through a, which the instance never connected to.
            let list: @Sendable () async throws -> [Gatehouse_V1_ComponentInstance] = {
                let response: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                    "/gatehouse.v1.Components/List", Gatehouse_V1_ListComponentsRequest())
                return response.instances
            }
            try await Self.eventually("a lists node-on-b on b") {
                try await list().contains { $0.instanceID == "node-on-b" && $0.server == "b" && $0.connected }
            }
            #expect(try await cluster.value("servers/b") == cluster.adminConfig("b").server, "b advertises its bound address")

            // b shuts down: its lease is revoked, its instance leaves a's list at once (not after the lease's TTL).
            subscriber.cancel()
            await client.close()
            let stopped = ContinuousClock.now
            try await cluster.stop("b")
            try await Self.eventually("node-on-b leaves a's list", timeout: .seconds(5)) {
                try await !list().contains { $0.instanceID == "node-on-b" }
            }
            #expect(ContinuousClock.now - stopped < .seconds(5))
            #expect(try await cluster.value("servers/b") == nil)
            await fixture.admin.close()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func aSubscriberResumesOnAnotherServerWithNoMissedOrRepeatedRevision() async throws {
        let cluster = try await Cluster.start()
        do {
            try await cluster.start("a")
            try await cluster.start("b")
            let fixture = try await cluster.fixture()
            _ = try await fixture.importCatalog()
            let adminOnB = try await GatehouseClient.connect(config: try cluster.adminConfig("b"))
            var kubelet = try fixture.config(for: "kubelet")

            // On a: the snapshot, then one change.
            let onA = try await GatehouseClient.connect(config: kubelet)
            let first = try await RecordingSubscriber.subscribe(on: onA.connection, component: "kubelet", instanceID: "node-1")
            let r2 = try await fixture.set("Everywhere", true)
            try await first.wait(for: "r\(r2) on a") { _ in first.deltas.contains { $0.revision == r2 } }
            first.cancel()
            await onA.close()

            // Missed while away, through both servers.
            let r3 = try await Self.set("Everywhere", false, through: adminOnB)
            let r4 = try await fixture.set("Everywhere", true)
            #expect((r3, r4) == (r2 + 1, r2 + 2), "revisions are one sequence across servers")

            // Resumed on b from r2: what it missed, then what follows, each once.
            kubelet.server = try cluster.adminConfig("b").server
            let onB = try await GatehouseClient.connect(config: kubelet)
            let second = try await RecordingSubscriber.subscribe(on: onB.connection, component: "kubelet", instanceID: "node-1", since: r2)
            let r5 = try await fixture.set("Everywhere", false)
            try await second.wait(for: "r\(r5) on b") { _ in second.deltas.contains { $0.revision == r5 } }
            #expect(!second.messages.contains { if case .snapshot = $0.message { true } else { false } }, "resumed, not restarted")
            let revisions = first.deltas.map(\.revision) + second.deltas.map(\.revision)
            #expect(revisions == [r2, r3, r4, r5])
            #expect(second.deltas.map { $0.features.first { $0.name == "Everywhere" }?.enabled } == [false, true, false])

            second.cancel()
            await onB.close()
            await adminOnB.close()
            await fixture.admin.close()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func oneElectedServerDrivesRolloutsAndAnotherTakesOverWhenItGoes() async throws {
        let cluster = try await Cluster.start()
        do {
            try await cluster.start("a")
            try await cluster.start("b")
            let fixture = try await cluster.fixture()
            _ = try await fixture.importCatalog()
            var leader: String?
            try await Self.eventually("a server leads the rollouts") {
                leader = try await cluster.value("leader/rollouts")
                return leader != nil
            }
            let elected = try #require(leader)
            #expect(["a", "b"].contains(elected))
            let other = elected == "a" ? "b" : "a"
            let client = try await GatehouseClient.connect(config: try cluster.adminConfig(other))

            // Started through the server that does not lead: the leader drives it, alone.
            _ = try await RolloutLiveTests.start(client, RolloutLiveTests.spec("r1", steps: [(50, 100, 0), (100, 0, 0)]))
            _ = try await RolloutLiveTests.waitForPhase(client, "r1", .completed, timeout: .seconds(30))
            #expect(cluster.captured(elected).transitions(of: "r1") > 0)
            #expect(cluster.captured(other).transitions(of: "r1") == 0, "only the leader drives")

            // The leader goes while a rollout bakes: the other is elected and finishes it from its stored step.
            var second = RolloutLiveTests.spec("r2", steps: [(50, 1500, 0), (100, 0, 0)])
            second.target = .with { $0.feature = "Everywhere" }
            _ = try await RolloutLiveTests.start(client, second)
            try await cluster.stop(elected)
            try await Self.eventually("\(other) leads") { try await cluster.value("leader/rollouts") == other }
            let done = try await RolloutLiveTests.waitForPhase(client, "r2", .completed, timeout: .seconds(30))
            #expect(done.rollout.step == 1)
            #expect(cluster.captured(other).transitions(of: "r2") > 0)
            await client.close()
            await fixture.admin.close()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func etcdGoneASetAnswersUnavailableWithinTheTimeout() async throws {
        let cluster = try await Cluster.start()
        do {
            try await cluster.start("a", timeout: .seconds(2))
            let fixture = try await cluster.fixture()
            _ = try await fixture.importCatalog()
            _ = try await fixture.set("Everywhere", true)

            cluster.etcd.kill(member: 0)
            let started = ContinuousClock.now
            do {
                _ = try await fixture.set("Everywhere", false)
                Issue.record("a Set was acknowledged with etcd gone")
            } catch let error as RPCError {
                let elapsed = ContinuousClock.now - started
                #expect(error.code == .unavailable)
                #expect(error.message.contains("etcd"), "\(error.message)")
                // The call's etcd timeout, plus the store's bounded check of an answer it may have lost.
                #expect(elapsed < .seconds(8), "answered after \(elapsed)")
                print("Set with etcd gone: \(error.code) after \(elapsed): \(error.message)")
            }
            await fixture.admin.close()
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
