import EtcdProto
import Foundation
import GatehouseEtcd
import Testing

/// Range, Put, DeleteRange and Txn against a real etcd over mutual TLS and HTTP/2.
@Suite("etcd client: unary calls", .serialized, .localEtcd)
struct ClientUnaryTests {
    @Test("a put is read back by a range, with etcd's revisions")
    func putThenRange() async throws {
        try await withEtcdClient { _, client in
            var put = Etcdserverpb_PutRequest()
            put.key = .utf8("/t/a")
            put.value = .utf8("one")
            let written = try await client.put(put)
            #expect(written.header.revision > 1)

            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/t/a")
            let read = try await client.range(range)
            #expect(read.kvs.count == 1)
            #expect(String(utf8: read.kvs[0].value) == "one")
            #expect(read.kvs[0].modRevision == written.header.revision)
            #expect(read.header.revision == written.header.revision)
        }
    }

    @Test("a prefix range returns every key under it, in key order; delete removes them")
    func prefixRangeAndDelete() async throws {
        try await withEtcdClient { _, client in
            for name in ["c", "a", "b"] {
                var put = Etcdserverpb_PutRequest()
                put.key = .utf8("/p/\(name)")
                put.value = .utf8(name)
                _ = try await client.put(put)
            }
            var outside = Etcdserverpb_PutRequest()
            outside.key = .utf8("/q")
            _ = try await client.put(outside)

            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/p/")
            range.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/p/".utf8)))
            let read = try await client.range(range)
            #expect(read.kvs.map { String(utf8: $0.key) } == ["/p/a", "/p/b", "/p/c"])
            #expect(read.count == 3)

            var delete = Etcdserverpb_DeleteRangeRequest()
            delete.key = range.key
            delete.rangeEnd = range.rangeEnd
            let deleted = try await client.deleteRange(delete)
            #expect(deleted.deleted == 3)
            #expect(try await client.range(range).kvs.isEmpty)
        }
    }

    @Test("a Txn applies success when its compare holds and failure when it does not")
    func txnCompare() async throws {
        try await withEtcdClient { _, client in
            func createIfAbsent(_ value: String) -> Etcdserverpb_TxnRequest {
                var compare = Etcdserverpb_Compare()
                compare.key = .utf8("/t/rev")
                compare.target = .create
                compare.result = .equal
                compare.createRevision = 0
                var put = Etcdserverpb_PutRequest()
                put.key = .utf8("/t/rev")
                put.value = .utf8(value)
                var onSuccess = Etcdserverpb_RequestOp()
                onSuccess.requestPut = put
                var get = Etcdserverpb_RangeRequest()
                get.key = .utf8("/t/rev")
                var onFailure = Etcdserverpb_RequestOp()
                onFailure.requestRange = get
                var txn = Etcdserverpb_TxnRequest()
                txn.compare = [compare]
                txn.success = [onSuccess]
                txn.failure = [onFailure]
                return txn
            }
            let first = try await client.txn(createIfAbsent("first"))
            #expect(first.succeeded)
            let second = try await client.txn(createIfAbsent("second"))
            #expect(!second.succeeded)
            #expect(second.responses.count == 1)
            #expect(second.responses[0].responseRange.kvs.map { String(utf8: $0.value) } == ["first"])
        }
    }

    @Test("etcd's refusal arrives as .rejected with its gRPC status and message")
    func rejectedWithStatus() async throws {
        try await withEtcdClient { _, client in
            // The same key twice in one Txn: etcd refuses with INVALID_ARGUMENT (3).
            var put = Etcdserverpb_PutRequest()
            put.key = .utf8("/t/twice")
            var op = Etcdserverpb_RequestOp()
            op.requestPut = put
            var txn = Etcdserverpb_TxnRequest()
            txn.success = [op, op]
            let error = try await #require(throws: EtcdError.self) { try await client.txn(txn) }
            #expect(error.code == .rejected(grpcStatus: 3))
            #expect(error.message.contains("duplicate key"))
            #expect(!error.mayHaveApplied)
        }
    }

    @Test("Status names the member's cluster and leader")
    func status() async throws {
        try await withEtcdClient { _, client in
            let status = try await client.status()
            #expect(status.header.clusterID != 0)
            #expect(status.leader != 0)
            #expect(status.version.hasPrefix("3."))
        }
    }

    @Test("many concurrent calls share the one connection")
    func concurrentCalls() async throws {
        try await withEtcdClient { _, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        var put = Etcdserverpb_PutRequest()
                        put.key = .utf8("/c/\(index)")
                        put.value = .utf8("\(index)")
                        _ = try await client.put(put)
                    }
                }
                try await group.waitForAll()
            }
            var range = Etcdserverpb_RangeRequest()
            range.key = .utf8("/c/")
            range.rangeEnd = Data(KeyRange.prefixEnd(of: Array("/c/".utf8)))
            range.countOnly = true
            #expect(try await client.range(range).count == 50)
        }
    }
}
