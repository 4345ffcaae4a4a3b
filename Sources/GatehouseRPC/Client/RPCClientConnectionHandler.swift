import GatehouseTLS
import Logging
import NIOCore

/// Runs the client side of one connection: sends HELLO, opens calls,
/// routes each server frame to its call's response stream.
final class RPCClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    typealias ResponseContinuation = AsyncThrowingStream<ByteBuffer, any Error>.Continuation

    private struct OpenCall {
        let continuation: ResponseContinuation
        var deadline: Scheduled<Void>?
    }

    private var stateMachine = ClientConnectionStateMachine()
    private var calls: [StreamID: OpenCall] = [:]
    private var context: ChannelHandlerContext?
    private let readyPromise: EventLoopPromise<Frame.Hello>
    private let maxFrameSize: UInt32
    private let logger: Logger
    /// Why the connection ended, reported to calls that fail because of it.
    private var closeReason: RPCError?
    private(set) var handshake: TLSHandshakeResult?

    init(readyPromise: EventLoopPromise<Frame.Hello>, maxFrameSize: UInt32, logger: Logger) {
        self.readyPromise = readyPromise
        self.maxFrameSize = maxFrameSize
        self.logger = logger
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.sendHello(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sendHello(context: context)
        context.fireChannelActive()
    }

    private func sendHello(context: ChannelHandlerContext) {
        let hello = Frame.Hello(versions: RPCProtocol.versions, settings: [Frame.Setting(.maxFrameSize, self.maxFrameSize)])
        context.writeAndFlush(self.wrapOutboundOut(.hello(hello)), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSEvent.handshakeCompleted(let result) = event {
            self.handshake = result
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.stateMachine.frameReceived(self.unwrapInboundIn(data)) {
        case .none:
            break
        case .ready(let hello):
            self.readyPromise.succeed(hello)
        case .deliverMessage(let streamID, let payload):
            _ = self.calls[streamID]?.continuation.yield(payload)
        case .finishCall(let streamID, let status):
            self.finish(streamID, status.isOK ? nil : RPCError(status: status))
        case .send(let frame):
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        case .goAway(let goAway, let unprocessed):
            self.closeReason = RPCError(.unavailable, "the server closed the connection (\(goAway.errorCode): \(goAway.debug))")
            for streamID in unprocessed {
                self.finish(streamID, RPCError(.unavailable, "the server is shutting down and did not process this call; retry"))
            }
            self.readyPromise.fail(self.closeReason!)
        case .protocolError(let reason):
            self.logger.warning("server broke the protocol", metadata: ["reason": "\(reason)"])
            self.closeReason = RPCError(.internal, "protocol error from the server: \(reason)")
            let goAway = Frame.GoAway(lastStreamID: 0, errorCode: .protocolError, debug: reason)
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.closeReason == nil {
            switch error {
            case let tlsError as TLSError:
                self.closeReason = RPCError(.unavailable, "TLS failed: \(tlsError)", cause: tlsError)
            case let frameError as FrameError:
                self.closeReason = RPCError(.internal, "bad frame from the server: \(frameError)")
            default:
                self.closeReason = RPCError(.unavailable, "connection failed: \(error)", cause: error)
            }
        }
        // A TLS failure is closed by the TLS handler once its alert is out; fail the calls now.
        if !(error is TLSError) { context.close(promise: nil) }
        self.failEverything()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failEverything()
        context.fireChannelInactive()
    }

    /// The connection is over: the connect attempt and every open call fail with why.
    private func failEverything() {
        let reason = self.closeReason ?? RPCError(.unavailable, "the connection closed")
        self.readyPromise.fail(reason)
        for streamID in self.stateMachine.channelClosed() {
            self.finish(streamID, reason)
        }
    }

    // MARK: - Calls, on the event loop

    /// Opens a call and sends its HEADERS and request.
    func openCall(
        path: String,
        request: ByteBuffer,
        endStream: Bool,
        timeout: TimeAmount?,
        metadata: Metadata
    ) -> Result<(StreamID, AsyncThrowingStream<ByteBuffer, any Error>), RPCError> {
        guard let context = self.context else {
            return .failure(RPCError(.unavailable, "the connection is not set up"))
        }
        guard request.readableBytes <= Int(self.stateMachine.peerMaxFrameSize) else {
            return .failure(RPCError(.resourceExhausted, "a request of \(request.readableBytes) octets exceeds the server's maximum frame size of \(self.stateMachine.peerMaxFrameSize)"))
        }
        let streamID: StreamID
        switch self.stateMachine.openStream() {
        case .success(let id): streamID = id
        case .failure(let error): return .failure(self.closeReason ?? error)
        }
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        continuation.onTermination = { termination in
            guard case .cancelled = termination else { return }
            loopBound.eventLoop.execute { loopBound.value.cancel(streamID, reason: nil) }
        }
        var call = OpenCall(continuation: continuation)
        let milliseconds = timeout.map { max(1, $0.nanoseconds / 1_000_000) } ?? 0
        if let timeout {
            call.deadline = context.eventLoop.scheduleTask(in: timeout) {
                loopBound.value.cancel(streamID, reason: RPCError(.deadlineExceeded, "the deadline of \(milliseconds) ms passed"))
            }
        }
        self.calls[streamID] = call
        let headers = Frame.Headers(streamID: streamID, path: path, timeoutMilliseconds: UInt32(clamping: milliseconds), metadata: metadata)
        context.write(self.wrapOutboundOut(.headers(headers)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.message(Frame.Message(streamID: streamID, endStream: endStream, payload: request))), promise: nil)
        return .success((streamID, stream))
    }

    /// Sends a further client message on an open call.
    func send(_ payload: ByteBuffer, endStream: Bool, on streamID: StreamID) -> EventLoopFuture<Void> {
        guard let context = self.context else {
            preconditionFailure("a message was sent before the handler was added to a channel")
        }
        guard self.stateMachine.isOpen(streamID) else {
            return context.eventLoop.makeFailedFuture(RPCError(.cancelled, "the call has ended"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(.message(Frame.Message(streamID: streamID, endStream: endStream, payload: payload))), promise: promise)
        return promise.futureResult
    }

    /// Abandons a call: CANCEL to the server, `reason` (or CANCELLED) to the caller.
    func cancel(_ streamID: StreamID, reason: RPCError?) {
        guard self.stateMachine.cancel(streamID) else { return }
        self.context?.writeAndFlush(self.wrapOutboundOut(.cancel(streamID: streamID)), promise: nil)
        self.finish(streamID, reason ?? RPCError(.cancelled, "the call was cancelled"))
    }

    private func finish(_ streamID: StreamID, _ error: RPCError?) {
        guard let call = self.calls.removeValue(forKey: streamID) else { return }
        call.deadline?.cancel()
        call.continuation.finish(throwing: error)
    }
}
