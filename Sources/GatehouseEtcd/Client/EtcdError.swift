/// Why an etcd call failed, in the terms the store needs to decide what to do next.
public struct EtcdError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No member answered (refused, unreachable, TLS failed, no leader, a
        /// minority partition): the server answers its own callers UNAVAILABLE.
        case unavailable
        /// The call's deadline passed (`--etcd-timeout`).
        case deadlineExceeded
        /// The revision asked for was compacted; reload and start again from the one given.
        case compacted(revision: Int64)
        /// etcd refused the request with this gRPC status (INVALID_ARGUMENT for
        /// too many operations in one Txn, RESOURCE_EXHAUSTED for the space quota, ...).
        case rejected(grpcStatus: Int)
        /// The client was closed.
        case closed
    }

    public var code: Code
    /// etcd's own message (grpc-message) or what the client saw, for the log and the operator.
    public var message: String
    /// The endpoint the call went to, when one was chosen.
    public var endpoint: String?
    /// True when the request may have been applied although its answer never
    /// came (the connection broke after it was sent, or the deadline passed):
    /// a write must be checked, not blindly retried.
    public var mayHaveApplied: Bool

    public init(_ code: Code, _ message: String, endpoint: String? = nil, mayHaveApplied: Bool = false) {
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.mayHaveApplied = mayHaveApplied
    }

    public var description: String {
        let at = self.endpoint.map { " (\($0))" } ?? ""
        switch self.code {
        case .unavailable: return "etcd unavailable\(at): \(self.message)"
        case .deadlineExceeded: return "etcd did not answer in time\(at): \(self.message)"
        case .compacted(let revision): return "etcd compacted its history past the revision asked for (now at \(revision))\(at)"
        case .rejected(let status): return "etcd refused the request (gRPC status \(status))\(at): \(self.message)"
        case .closed: return "the etcd client is closed"
        }
    }
}
