import EtcdProto
import Foundation
import GatehouseEtcd
import Logging
import Synchronization
import Testing

/// EtcdDirectory on a real etcd: batched leased writes, a follower that sees
/// everything once and then every change, and a dead writer's entries gone with its lease.
@Suite("cluster: shared directory", .serialized, .localEtcd)
struct ClusterDirectoryTests {
    static let logger = Logger(label: "test.directory")

    /// What a follower knows, applied from its events.
    final class Follower: Sendable {
        /// The entries, and how many whole reads the follower made.
        final class Known: Sendable {
            let state = Mutex<(entries: [String: [UInt8]], snapshots: Int)>(([:], 0))
        }

        let known = Known()
        let task: Task<Void, Never>

        init(_ directory: EtcdDirectory) {
            let known = self.known
            self.task = Task {
                for await event in directory.follow(logger: ClusterDirectoryTests.logger) {
                    known.state.withLock { state in
                        switch event {
                        case .snapshot(let all):
                            state.snapshots += 1
                            state.entries = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0.value) })
                        case .put(let entry):
                            state.entries[entry.key] = entry.value
                        case .deleted(let key):
                            state.entries[key] = nil
                        }
                    }
                }
            }
        }

        var entries: [String: [UInt8]] { self.known.state.withLock { $0.entries } }
        var keys: Set<String> { Set(self.entries.keys) }
        var snapshots: Int { self.known.state.withLock { $0.snapshots } }
    }

    @Test("250 writes in Txns of at most 100 are followed, then changes and deletes as they come")
    func writesAreFollowed() async throws {
        try await withEtcdClient { _, client in
            let directory = EtcdDirectory(kv: client, prefix: "/gh/instances/")
            let lease = try await client.leaseGrant(ttl: 30).id
            // Before the follower: its first read has these.
            try await directory.write((0..<250).map { .put(key: "kubelet/n\($0)", value: [UInt8($0 % 256)]) }, lease: lease)
            let follower = Follower(directory)
            defer { follower.task.cancel() }
            #expect(await eventually { follower.keys.count == 250 })
            #expect(follower.snapshots == 1)

            try await directory.write([.put(key: "kubelet/n1", value: [42]), .delete(key: "kubelet/n2"), .put(key: "proxy/x", value: [7])], lease: lease)
            #expect(await eventually { follower.entries["kubelet/n1"] == [42] && follower.entries["kubelet/n2"] == nil && follower.entries["proxy/x"] == [7] })
            let stored = try await client.range(.with { $0.key = .utf8("/gh/instances/proxy/x") }).kvs.first
            #expect(stored?.lease == lease, "written under the writer's lease")
        }
    }

    @Test("a writer whose session dies loses its entries after the TTL; another writer's stay")
    func deadWritersEntriesVanish() async throws {
        try await withEtcdClient { _, client in
            let cut = Partitionable(client)
            let dying = try await EtcdSession.start(kv: cut, prefix: "/gh/", serverID: "a", address: "a", ttl: .seconds(2), logger: Self.logger)
            let living = try await EtcdSession.start(kv: client, prefix: "/gh/", serverID: "b", address: "b", ttl: .seconds(2), logger: Self.logger)
            let directory = EtcdDirectory(kv: client, prefix: "/gh/instances/")
            try await EtcdDirectory(kv: cut, prefix: "/gh/instances/").write([.put(key: "kubelet/on-a", value: [1])], lease: try #require(dying.lease))
            try await directory.write([.put(key: "kubelet/on-b", value: [2])], lease: try #require(living.lease))
            let follower = Follower(directory)
            defer { follower.task.cancel() }
            #expect(await eventually { follower.keys == ["kubelet/on-a", "kubelet/on-b"] })

            cut.partition()  // a "dies": no more keepalives
            let cutAt = ContinuousClock.now
            #expect(await eventually { follower.keys == ["kubelet/on-b"] })
            #expect(ContinuousClock.now - cutAt >= .seconds(1), "kept until the lease ran out")
            await living.close()
            #expect(await eventually { follower.keys.isEmpty }, "a clean close takes b's at once")
            cut.heal()
            await dying.close()
        }
    }
}
