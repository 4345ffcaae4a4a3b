import EtcdProto
import GatehouseEtcd
import Synchronization

/// An ``EtcdKV`` that forwards to a real client but can lose a transaction's
/// answer or hold back the watch: the faults a network puts between a
/// Gatehouse server and etcd, for the store's tests.
final class StoreFaultKV: EtcdKV {
    /// What the next transaction suffers.
    enum TxnFault: Sendable {
        /// Forwarded, applied by etcd, then the answer is lost.
        case loseAnswer
        /// Never sent, but reported as possibly applied (the connection broke while sending).
        case dropRequest
    }

    private let base: any EtcdKV
    private let nextTxnFaults = Mutex<[TxnFault]>([])
    /// Watch responses wait until this is released; nil: they flow.
    private let watchHold = Mutex<AsyncStream<Void>?>(nil)
    private let holdRelease = Mutex<AsyncStream<Void>.Continuation?>(nil)
    let transactions = Mutex(0)

    init(_ base: any EtcdKV) {
        self.base = base
    }

    /// The next transactions suffer `faults`, one each, in order.
    func fail(nextTransactions faults: [TxnFault]) {
        self.nextTxnFaults.withLock { $0 += faults }
    }

    /// Watches opened from now on reach etcd only at ``releaseWatch()``.
    func holdWatch() {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.watchHold.withLock { $0 = stream }
        self.holdRelease.withLock { $0 = continuation }
    }

    func releaseWatch() {
        self.holdRelease.withLock { $0?.finish() }
    }

    func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await self.base.range(request)
    }

    func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await self.base.put(request)
    }

    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await self.base.deleteRange(request)
    }

    func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        self.transactions.withLock { $0 += 1 }
        let fault = self.nextTxnFaults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        switch fault {
        case nil:
            return try await self.base.txn(request)
        case .loseAnswer:
            _ = try await self.base.txn(request)
            throw EtcdError(.unavailable, "test: the connection broke before the answer", endpoint: "test", mayHaveApplied: true)
        case .dropRequest:
            throw EtcdError(.unavailable, "test: the connection broke while sending", endpoint: "test", mayHaveApplied: true)
        }
    }

    func watch(_ request: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        let hold = self.watchHold.withLock { $0 }
        let base = self.base
        return AsyncThrowingStream { continuation in
            let task = Task {
                if let hold {
                    for await _ in hold {}
                }
                // Opened only now: a start revision compacted meanwhile is refused as etcd would.
                let upstream = base.watch(request)
                do {
                    for try await response in upstream {
                        continuation.yield(response)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func leaseGrant(ttl seconds: Int64) async throws -> Etcdserverpb_LeaseGrantResponse {
        try await self.base.leaseGrant(ttl: seconds)
    }

    func leaseKeepAlive(id: Int64) async throws -> Int64 {
        try await self.base.leaseKeepAlive(id: id)
    }

    func leaseRevoke(id: Int64) async throws {
        try await self.base.leaseRevoke(id: id)
    }

    func status() async throws -> Etcdserverpb_StatusResponse {
        try await self.base.status()
    }
}
