import EtcdProto

/// What Gatehouse asks of an etcd cluster: the handful of v3 calls its store,
/// shared instance list and leader election are built on.
///
/// ``EtcdClient`` speaks them to a real cluster over gRPC/HTTP/2 on our TLS
/// handler. The layers above depend on this protocol rather than on the
/// client, so a test can put a fault between them (a lost response, a
/// partition) without a second implementation of etcd.
public protocol EtcdKV: Sendable {
    /// KV/Range, linearizable unless the request says `serializable`.
    func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse

    /// KV/Put.
    func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse

    /// KV/DeleteRange.
    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse

    /// KV/Txn: the compares, then `success` or `failure`, atomically at one revision.
    func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse

    /// One watch of one range from `request.startRevision` (inclusive).
    ///
    /// Yields etcd's responses in order, whole revisions at a time (the
    /// client never asks for fragments), progress notifications included.
    /// The stream finishes with an ``EtcdError`` when the watch breaks (the
    /// connection is lost, etcd cancels it, the start revision was compacted:
    /// ``EtcdError/Code/compacted(_:)``); the caller watches again from the
    /// revision after the last one it saw. Cancelling the consuming task ends the watch.
    func watch(_ request: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>

    /// Lease/LeaseGrant of `seconds`; etcd chooses the id.
    func leaseGrant(ttl seconds: Int64) async throws -> Etcdserverpb_LeaseGrantResponse

    /// One keepalive of lease `id` (over a LeaseKeepAlive stream the client
    /// keeps open); returns the lease's new time to live in seconds, 0 or less
    /// when the lease has expired.
    func leaseKeepAlive(id: Int64) async throws -> Int64

    /// Lease/LeaseRevoke: the lease ends now and etcd deletes every key attached to it.
    func leaseRevoke(id: Int64) async throws

    /// Maintenance/Status of the member the client is connected to.
    func status() async throws -> Etcdserverpb_StatusResponse
}
