import GatehouseTLS
import NIOCore

/// The two points where a server connection moves between the stages that
/// ``ConnectionAdmission`` counts. Each handler leaves the pipeline once its
/// moment has passed, so an established connection pays nothing for them.

/// First in the pipeline, below TLS: reports the first bytes the peer sends
/// (a socket that has sent nothing is the first dropped when handshakes are
/// full), then removes itself.
final class RPCServerFirstBytesHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let spoke: () -> Void

    init(spoke: @escaping () -> Void) {
        self.spoke = spoke
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.spoke()
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Above TLS: when the handshake completes, asks whether the now-known peer
/// may stay. Admitted, it passes the event on and removes itself; refused, it
/// sends GOAWAY `NO_ERROR` with the reason in place of the server's HELLO
/// (as for `UNSUPPORTED_VERSION`, PROTOCOL.md 3.1) and closes, so the client
/// reports why instead of a bare closed connection.
///
/// A TLS failure before that (a bad certificate, a socket closed mid-handshake)
/// is reported to the server, which logs it with the other refusals at a
/// bounded rate, and not passed on: otherwise every socket of a flood would
/// write its own log line. The TLS handler closes the connection itself.
final class RPCServerAuthenticationGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Returns why the peer is refused, or `nil` to admit it.
    private let authenticated: (TLSPeerIdentity?) -> String?

    /// Told of a TLS failure during the handshake.
    private let handshakeFailed: (TLSError) -> Void
    private var refused = false

    init(authenticated: @escaping (TLSPeerIdentity?) -> String?, handshakeFailed: @escaping (TLSError) -> Void) {
        self.authenticated = authenticated
        self.handshakeFailed = handshakeFailed
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let tlsError = error as? TLSError else {
            context.fireErrorCaught(error)
            return
        }
        if !self.refused { self.handshakeFailed(tlsError) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.refused else { return }  // the client's HELLO must not reach the RPC handler
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case TLSEvent.handshakeCompleted(let result) = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if let refusal = self.authenticated(result.peer) {
            var buffer = context.channel.allocator.buffer(capacity: 64 + refusal.utf8.count)
            Frame.goAway(Frame.GoAway(lastStreamID: 0, errorCode: .noError, debug: refusal)).encode(into: &buffer)
            self.refused = true
            // TLS writes the GOAWAY before its close_notify; nothing the peer sent after is read.
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
