/// How a gRPC outcome becomes an ``EtcdError``: in one place, as etcd's own
/// `api/v3rpc` maps its errors to statuses in one place.
extension EtcdError {
    /// etcd's refusals that are known to come before the request reaches raft,
    /// so even a write answered with them was not applied. "no leader" is what
    /// a member in a minority answers a call marked `hasleader` (see
    /// ``EtcdRequestHeaders``); "request timed out" and "leader changed" are
    /// not here: the proposal may still commit.
    static let refusalsBeforeApply: Set<String> = [
        "etcdserver: no leader",
        "etcdserver: not capable",
    ]

    /// The error for a call that ended with the non-OK `status` from `endpoint`.
    ///
    /// - Parameter requestSent: whether the request may have reached etcd; a
    ///   timeout or unavailability after that may still have applied it.
    static func from(_ status: GRPCStatus, path: String, endpoint: String, requestSent: Bool) -> EtcdError {
        let message = status.message.isEmpty ? "\(path) failed" : status.message
        switch status.code {
        case GRPCStatus.unavailable:
            let applied = requestSent && !Self.refusalsBeforeApply.contains(status.message)
            return EtcdError(.unavailable, message, endpoint: endpoint, mayHaveApplied: applied)
        case GRPCStatus.deadlineExceeded:
            return EtcdError(.deadlineExceeded, message, endpoint: endpoint, mayHaveApplied: requestSent)
        default:
            return EtcdError(.rejected(grpcStatus: status.code), message, endpoint: endpoint, mayHaveApplied: false)
        }
    }

    /// Whether this failure means the member cannot serve now, so the client
    /// should move to the next endpoint.
    var movesToNextEndpoint: Bool {
        switch self.code {
        case .unavailable: return true
        case .deadlineExceeded, .compacted, .rejected, .closed: return false
        }
    }
}
