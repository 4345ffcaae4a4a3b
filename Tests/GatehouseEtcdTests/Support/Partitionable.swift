import EtcdProto
import GatehouseEtcd
import Synchronization

/// A real ``EtcdClient`` behind a switch that cuts one server off from etcd:
/// while cut, every call fails `.unavailable` without reaching etcd (a
/// network partition of that server alone), so its lease stops being kept
/// alive while etcd and the other servers go on.
final class Partitionable: EtcdKV {
    let base: any EtcdKV
    private let cut = Atomic<Bool>(false)

    init(_ base: any EtcdKV) { self.base = base }

    func partition() { self.cut.store(true, ordering: .releasing) }
    func heal() { self.cut.store(false, ordering: .releasing) }

    private func check() throws {
        if self.cut.load(ordering: .acquiring) { throw EtcdError(.unavailable, "partitioned by the test") }
    }

    func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try self.check()
        return try await self.base.range(request)
    }

    func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try self.check()
        return try await self.base.put(request)
    }

    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try self.check()
        return try await self.base.deleteRange(request)
    }

    func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try self.check()
        return try await self.base.txn(request)
    }

    func watch(_ request: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        if self.cut.load(ordering: .acquiring) {
            return AsyncThrowingStream { $0.finish(throwing: EtcdError(.unavailable, "partitioned by the test")) }
        }
        return self.base.watch(request)
    }

    func leaseGrant(ttl seconds: Int64) async throws -> Etcdserverpb_LeaseGrantResponse {
        try self.check()
        return try await self.base.leaseGrant(ttl: seconds)
    }

    func leaseKeepAlive(id: Int64) async throws -> Int64 {
        try self.check()
        return try await self.base.leaseKeepAlive(id: id)
    }

    func leaseRevoke(id: Int64) async throws {
        try self.check()
        try await self.base.leaseRevoke(id: id)
    }

    func status() async throws -> Etcdserverpb_StatusResponse {
        try self.check()
        return try await self.base.status()
    }
}

/// Polls `condition` every 50 ms until it holds; fails the test (returns false) after `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
