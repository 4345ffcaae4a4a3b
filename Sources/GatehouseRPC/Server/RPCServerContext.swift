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
    /// Set when the call ends from outside the method (CANCEL, deadline,
    /// connection closed): a method whose work runs elsewhere checks it there.
    public let cancellation: RPCCallCancellation
    /// The largest frame payload the caller accepts (its HELLO's MAX_FRAME_SIZE,
    /// 16,384 when it announced none): a response must fit it, so methods that
    /// return long listings fill their pages up to it.
    public let peerMaxFrameSize: Int
    /// The connection's logger (peer metadata); ``logger`` adds the call's.
    private let connectionLogger: Logger
    /// The call's stream, for the logs; 0 when unknown.
    private let streamID: UInt32

    public init(
        path: String,
        metadata: Metadata,
        deadline: NIODeadline?,
        peer: TLSPeerIdentity?,
        remoteAddress: SocketAddress?,
        logger: Logger,
        streamID: UInt32 = 0,
        cancellation: RPCCallCancellation = RPCCallCancellation(),
        peerMaxFrameSize: Int = 16_384
    ) {
        self.path = path
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.remoteAddress = remoteAddress
        self.connectionLogger = logger
        self.streamID = streamID
        self.cancellation = cancellation
        self.peerMaxFrameSize = peerMaxFrameSize
    }

    /// Whether the call has ended from outside the method; see ``cancellation``.
    public var isCancelled: Bool { self.cancellation.isCancelled }

    /// Carries the connection's and the call's metadata (peer, path, stream).
    ///
    /// Built when asked for, not per call: a log handler may reformat all
    /// its metadata on every key set, which is a measurable share of a
    /// toggle's CPU when nothing is logged.
    public var logger: Logger {
        var logger = self.connectionLogger
        logger[metadataKey: "rpc.method"] = "\(self.path)"
        if self.streamID != 0 { logger[metadataKey: "rpc.stream"] = "\(self.streamID)" }
        return logger
    }

    /// The level below which nothing is logged: check it before building ``logger`` on a hot path.
    public var logLevel: Logger.Level { self.connectionLogger.logLevel }
}
