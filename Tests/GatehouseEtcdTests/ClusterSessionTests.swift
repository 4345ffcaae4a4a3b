import EtcdProto
import Foundation
import GatehouseEtcd
import Logging
import Synchronization
import Testing

/// EtcdSession against a real etcd: the server listed under its lease, kept
/// alive past its TTL, revoked on close, and replaced after it expired.
@Suite("cluster: etcd session", .serialized, .localEtcd)
struct ClusterSessionTests {
    static let logger = Logger(label: "test.session")

    static func get(_ client: any EtcdKV, _ key: String) async throws -> Mvccpb_KeyValue? {
        try await client.range(.with { $0.key = .utf8(key) }).kvs.first
    }

    @Test("the server is listed under the session's lease, which outlives its TTL while kept alive")
    func listedAndKeptAlive() async throws {
        try await withEtcdClient { _, client in
            let session = try await EtcdSession.start(kv: client, prefix: "/gh/", serverID: "a", address: "127.0.0.1:7443", ttl: .seconds(2), logger: Self.logger)
            let listed = try #require(try await Self.get(client, "/gh/servers/a"))
            #expect(String(utf8: listed.value) == "127.0.0.1:7443")
            #expect(listed.lease == session.lease)
            // Twice the TTL: gone by now unless the keepalives work.
            try await Task.sleep(for: .seconds(4))
            #expect(try await Self.get(client, "/gh/servers/a")?.lease == session.lease)
            await session.close()
            #expect(try await Self.get(client, "/gh/servers/a") == nil, "close revokes the lease: its keys go at once")
            #expect(session.lease == nil)
        }
    }

    @Test("a lease that expired while etcd was out of reach is given up locally, then replaced and the server listed again")
    func expiredLeaseIsReplaced() async throws {
        try await withEtcdClient { _, client in
            let cut = Partitionable(client)
            let session = try await EtcdSession.start(kv: cut, prefix: "/gh/", serverID: "a", address: "a:1", ttl: .seconds(2), logger: Self.logger)
            let first = try #require(session.lease)
            let seen = Mutex<[Int64?]>([])
            let watching = Task {
                for await lease in session.leases() { seen.withLock { $0.append(lease) } }
            }
            cut.partition()
            // Given up locally (nil): holders stop acting under it.
            #expect(await eventually { seen.withLock { $0.contains(nil) } })
            #expect(try await eventually { try await Self.get(client, "/gh/servers/a") == nil }, "etcd expired the lease")
            cut.heal()
            #expect(await eventually { session.lease != nil })
            let second = try #require(session.lease)
            #expect(second != first)
            #expect(try await Self.get(client, "/gh/servers/a")?.lease == second, "listed again under the new lease")
            #expect(seen.withLock { $0.first == first && $0.last == second })
            await session.close()
            watching.cancel()
            await watching.value
        }
    }
}
