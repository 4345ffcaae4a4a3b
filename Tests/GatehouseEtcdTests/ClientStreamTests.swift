import Foundation
import EtcdProto
import GatehouseEtcd
import Testing

/// Watch and LeaseKeepAlive streams against a real etcd.
@Suite("etcd client: watch and lease streams", .serialized, .localEtcd)
struct ClientStreamTests {
    private static func put(_ client: EtcdClient, _ key: String, _ value: String, lease: Int64 = 0) async throws -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = .utf8(key)
        request.value = .utf8(value)
        request.lease = lease
        return try await client.put(request).header.revision
    }

    @Test("a watch from the next revision sees later puts in order, whole revisions at a time")
    func watchSeesPuts() async throws {
        try await withEtcdClient { _, client in
            let start = try await Self.put(client, "/w/before", "x")
            var request = Etcdserverpb_WatchCreateRequest()
            request.key = .utf8("/w/")
            request.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/w/".utf8)))
            request.startRevision = start + 1
            let responses = client.watch(request)
            let first = try await Self.put(client, "/w/a", "1")
            var txn = Etcdserverpb_TxnRequest()
            for key in ["/w/b", "/w/c"] {
                var put = Etcdserverpb_PutRequest()
                put.key = .utf8(key)
                var op = Etcdserverpb_RequestOp()
                op.requestPut = put
                txn.success.append(op)
            }
            let second = try await client.txn(txn).header.revision

            var seen: [(Int64, [String])] = []
            for try await response in responses {
                for event in response.events {
                    if seen.last?.0 == event.kv.modRevision {
                        seen[seen.count - 1].1.append(String(utf8: event.kv.key))
                    } else {
                        seen.append((event.kv.modRevision, [String(utf8: event.kv.key)]))
                    }
                }
                if seen.last?.0 == second { break }
            }
            #expect(seen.map(\.0) == [first, second])
            #expect(seen.map(\.1) == [["/w/a"], ["/w/b", "/w/c"]])
        }
    }

    @Test("a watch from a compacted revision ends with .compacted naming etcd's compaction revision")
    func compactedWatch() async throws {
        try await withEtcdClient { etcd, client in
            _ = try await Self.put(client, "/k", "1")
            _ = try await Self.put(client, "/k", "2")
            let latest = try await Self.put(client, "/k", "3")
            let (status, output) = try await etcd.etcdctl(["compact", "\(latest)"])
            #expect(status == 0, "\(output)")

            var request = Etcdserverpb_WatchCreateRequest()
            request.key = .utf8("/k")
            request.startRevision = 2
            var seen = 0
            do {
                for try await _ in client.watch(request) { seen += 1 }
                Issue.record("the watch ended without an error")
            } catch let error as EtcdError {
                #expect(error.code == .compacted(revision: latest))
            }
            #expect(seen == 0)
        }
    }

    @Test("cancelling the consuming task ends the watch; the client keeps working")
    func cancelledWatch() async throws {
        try await withEtcdClient { _, client in
            var request = Etcdserverpb_WatchCreateRequest()
            request.key = .utf8("/never")
            let watching = Task {
                for try await _ in client.watch(request) {}
            }
            try await Task.sleep(for: .milliseconds(200))
            watching.cancel()
            _ = await watching.result
            _ = try await Self.put(client, "/after", "ok")
        }
    }

    @Test("close() ends open watches with .closed and refuses later calls with .closed")
    func closeEndsWatches() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        let client = try EtcdClient(configuration: etcd.clientConfiguration())
        _ = try await Self.put(client, "/x", "1")
        var request = Etcdserverpb_WatchCreateRequest()
        request.key = .utf8("/x")
        let watching = Task { () -> EtcdError? in
            do {
                for try await _ in client.watch(request) {}
                return nil
            } catch {
                return error as? EtcdError
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        await client.close()
        let ended = try #require(await watching.value)
        #expect(ended.code == .closed)
        let refused = try await #require(throws: EtcdError.self) { try await Self.put(client, "/x", "2") }
        #expect(refused.code == .closed)
    }

    @Test("lease grant, keepalive and revoke: revoking deletes the lease's keys; a revoked lease keeps alive with TTL 0")
    func leaseLifecycle() async throws {
        try await withEtcdClient { _, client in
            let lease = try await client.leaseGrant(ttl: 30)
            #expect(lease.id != 0)
            #expect(lease.ttl == 30)
            _ = try await Self.put(client, "/lease/a", "1", lease: lease.id)
            _ = try await Self.put(client, "/lease/b", "2", lease: lease.id)

            let ttl = try await client.leaseKeepAlive(id: lease.id)
            #expect(ttl == 30)
            // Concurrent keepalives share the one stream and each gets its answer.
            let other = try await client.leaseGrant(ttl: 20)
            async let one = client.leaseKeepAlive(id: lease.id)
            async let two = client.leaseKeepAlive(id: other.id)
            #expect(try await [one, two] == [30, 20])

            try await client.leaseRevoke(id: lease.id)
            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/lease/")
            range.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/lease/".utf8)))
            #expect(try await client.range(range).kvs.isEmpty)
            #expect(try await client.leaseKeepAlive(id: lease.id) <= 0)
        }
    }
}
