import Foundation
import GatehouseCore
import GatehouseEtcd
import Logging
import Testing

@testable import GatehouseServer

/// Two servers' registries sharing their instances over a real etcd: each
/// lists the other's with the right server, an instance that moves is shown
/// once by its new server, and a dead server's instances go with its lease.
@Suite("shared instances over etcd", .serialized, .localEtcd)
struct SharedInstancesLiveTests {
    static let logger = Logger(label: "test.shared-instances")

    struct Server {
        let registry: InstanceRegistry
        let kv: Partitionable
        let client: EtcdClient
        let session: EtcdSession
        let sharing: Task<Void, Never>

        func stop() async {
            self.sharing.cancel()
            await self.sharing.value
            self.kv.heal()
            await self.session.close()
            await self.client.close()
        }
    }

    static func server(_ id: String, etcd: LocalEtcd) async throws -> Server {
        let client = try EtcdClient(configuration: etcd.clientConfiguration())
        let kv = Partitionable(client)
        let session = try await EtcdSession.start(kv: kv, prefix: "/gh/", serverID: id, address: id, ttl: .seconds(2), logger: Self.logger)
        let registry = InstanceRegistry(now: { Int64(Date().timeIntervalSince1970 * 1000) }, server: id)
        let shared = SharedInstances(registry: registry, session: session, flushInterval: .milliseconds(50), logger: Self.logger)
        return Server(registry: registry, kv: kv, client: client, session: session, sharing: Task { await shared.run() })
    }

    static func ref(_ id: String) -> InstanceRef { InstanceRef(component: "kubelet", instanceID: id, version: Version(1, 31, 0)) }
    static func key(_ id: String) -> InstanceRegistry.Key { .init(component: "kubelet", instanceID: id) }

    /// instance id → server, as `registry` lists them (connected ones only when asked).
    static func servers(_ registry: InstanceRegistry, connectedOnly: Bool = false) -> [String: String] {
        Dictionary(uniqueKeysWithValues: registry.list(connectedOnly: connectedOnly).map { ($0.key.instanceID, $0.server) })
    }

    @Test("two servers list each other's instances; a moved instance shows once; a dead server's go after the TTL")
    func twoServersShareOneFleet() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        let a = try await Self.server("a", etcd: etcd)
        let b = try await Self.server("b", etcd: etcd)

        try a.registry.subscribed(Self.ref("n1"), identity: "kubelet")
        try a.registry.subscribed(Self.ref("n3"), identity: "kubelet")
        a.registry.acked(Self.key("n1"), revision: Revision(3))
        try b.registry.subscribed(Self.ref("n2"), identity: "kubelet")
        #expect(await eventually { Self.servers(b.registry) == ["n1": "a", "n2": "b", "n3": "a"] })
        #expect(await eventually { Self.servers(a.registry) == ["n1": "a", "n2": "b", "n3": "a"] })
        #expect(b.registry.record(Self.key("n1"))?.appliedRevision == Revision(3), "acks reach the other server")
        #expect(Set(b.registry.liveReplicas().all.map(\.instanceID)) == ["n1", "n2", "n3"], "the skew guard counts every server's replicas")

        // n1 drops from a and reconnects to b: both servers show it once, on b.
        a.registry.unsubscribed(Self.key("n1"))
        try b.registry.subscribed(Self.ref("n1"), identity: "kubelet")
        #expect(await eventually { Self.servers(a.registry, connectedOnly: true) == ["n1": "b", "n2": "b", "n3": "a"] })
        #expect(await eventually { Self.servers(b.registry, connectedOnly: true) == ["n1": "b", "n2": "b", "n3": "a"] })

        // a dies (cut off from etcd): its instances leave b's list once its lease expires.
        a.kv.partition()
        let cut = ContinuousClock.now
        #expect(await eventually { Self.servers(b.registry) == ["n1": "b", "n2": "b"] })
        #expect(ContinuousClock.now - cut >= .seconds(1), "kept until a's lease ran out")

        // a comes back: a new lease, its instance written again under it.
        a.kv.heal()
        #expect(await eventually { Self.servers(b.registry) == ["n1": "b", "n2": "b", "n3": "a"] })

        // A clean shutdown takes b's instances out at once.
        await b.stop()
        #expect(await eventually(timeout: .seconds(1.5)) { Self.servers(a.registry, connectedOnly: true) == ["n3": "a"] })
        await a.stop()
    }

    @Test("10,000 acks of 1,000 instances become 1,000 puts in 10 Txns")
    func acksAreCoalesced() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        let client = try EtcdClient(configuration: etcd.clientConfiguration())
        let kv = Partitionable(client)
        let session = try await EtcdSession.start(kv: kv, prefix: "/gh/", serverID: "a", address: "a", ttl: .seconds(5), logger: Self.logger)
        let registry = InstanceRegistry(now: { 1 }, server: "a")
        let shared = SharedInstances(registry: registry, session: session, logger: Self.logger)
        for index in 0..<1_000 { try registry.subscribed(Self.ref("n\(index)"), identity: "kubelet") }
        for revision in 1...10 {
            for index in 0..<1_000 { registry.acked(Self.key("n\(index)"), revision: Revision(UInt64(revision))) }
        }
        let before = kv.txnCount
        let started = ContinuousClock.now
        #expect(await shared.flush() == 1_000)
        let took = ContinuousClock.now - started
        #expect(kv.txnCount - before == 10, "at most 100 puts per Txn")
        #expect(await shared.flush() == 0, "nothing changed since")
        let stored = try await client.range(.with {
            $0.key = Data("/gh/instances/".utf8)
            $0.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/gh/instances/".utf8)))
            $0.countOnly = true
        })
        #expect(stored.count == 1_000)
        Self.logger.info("flushed 1,000 instances (10,000 acks)", metadata: ["txns": "\(kv.txnCount - before)", "took": "\(took)"])
        await session.close()
        await client.close()
    }
}
