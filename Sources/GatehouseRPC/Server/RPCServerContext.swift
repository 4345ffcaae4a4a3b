import GatehouseTLS
import Logging
import NIOCore

/// What a method knows about the call it is serving.
public struct RPCServerContext: Sendable {
    /// `/<package>.<Service>/<Method>`.
    public let path: String
    public let metadata: Metadata
    /// When the caller stops waiting; nil when it set no deadline.
    public let deadline: NIODeadline?
    /// The caller's certificate identity, from the TLS handshake.
    public let peer: TLSPeerIdentity?
    public let remoteAddress: SocketAddress?
    /// Carries the connection's and call's metadata (peer, path, stream).
    public var logger: Logger

    public init(path: String, metadata: Metadata, deadline: NIODeadline?, peer: TLSPeerIdentity?, remoteAddress: SocketAddress?, logger: Logger) {
        self.path = path
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.remoteAddress = remoteAddress
        self.logger = logger
    }
}
