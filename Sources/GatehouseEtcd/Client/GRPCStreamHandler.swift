import NIOCore
import NIOHTTP2

/// Runs one gRPC call on its own HTTP/2 stream channel: turns etcd's frames
/// into messages and a final outcome for the caller's stream, tracks whether
/// the request may have reached etcd, and ends the call at its deadline.
///
/// The caller writes the request frames into the stream channel; they pass
/// through here so the handler knows when the request was on the wire.
/// Closing the stream channel (the caller's cancellation) resets the stream.
final class GRPCStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    typealias Continuation = AsyncThrowingStream<ByteBuffer, any Error>.Continuation

    /// Whether the request's bytes may have reached etcd.
    private enum RequestState {
        /// No DATA written yet: etcd cannot have seen the request.
        case notWritten
        /// A DATA write is under way: it may be on the wire.
        case writing
        /// Written to the socket.
        case written
        /// The write failed: the connection ended before it went out.
        case writeFailed
    }

    private var response: GRPCResponseStateMachine
    private var requestState: RequestState = .notWritten
    private let continuation: Continuation
    private let endpoint: String
    private let path: String
    private let deadline: NIODeadline?
    private let health: EtcdConnectionHealth
    private var deadlineTask: Scheduled<Void>?
    /// The last error the pipeline reported, for the message of a lost stream.
    private var lastError: (any Error)?

    init(endpoint: String, path: String, deadline: NIODeadline?, maximumMessageLength: Int, health: EtcdConnectionHealth, continuation: Continuation) {
        self.endpoint = endpoint
        self.health = health
        self.path = path
        self.deadline = deadline
        self.continuation = continuation
        self.response = GRPCResponseStateMachine(maximumMessageLength: maximumMessageLength)
    }

    private var requestMayHaveBeenSent: Bool {
        switch self.requestState {
        case .writing, .written: return true
        case .notWritten, .writeFailed: return false
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let deadline = self.deadline {
            self.deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
                self.deadlinePassed(context: context)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadlineTask?.cancel()
        self.deadlineTask = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = self.unwrapOutboundIn(data)
        guard case .data = payload else {
            context.write(data, promise: promise)
            return
        }
        if case .notWritten = self.requestState { self.requestState = .writing }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenComplete { [self] result in
            switch (result, self.requestState) {
            case (.success, .writing): self.requestState = .written
            case (.failure, .writing): self.requestState = .writeFailed
            case (_, .notWritten), (_, .written), (_, .writeFailed): break
            }
        }
        context.write(data, promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action: GRPCResponseStateMachine.Action
        switch self.unwrapInboundIn(data) {
        case .headers(let headers):
            action = self.response.headersReceived(headers.headers, endStream: headers.endStream)
        case .data(let data):
            guard case .byteBuffer(let bytes) = data.data else { return }
            action = self.response.dataReceived(bytes, endStream: data.endStream)
        case .rstStream(let code):
            if self.response.streamClosed() {
                self.finish(EtcdError(
                    .unavailable, "etcd reset the stream of \(self.path) (\(code))",
                    endpoint: self.endpoint, mayHaveApplied: self.requestMayHaveBeenSent
                ))
            }
            context.close(promise: nil)
            return
        case .priority, .settings, .pushPromise, .ping, .goAway, .windowUpdate, .alternativeService, .origin:
            return
        }
        switch action {
        case .none:
            break
        case .deliver(let messages):
            for message in messages { self.continuation.yield(message) }
        case .deliverAndFinish(let messages, let status):
            for message in messages { self.continuation.yield(message) }
            if status.isOK {
                self.finish(nil)
            } else {
                self.finish(EtcdError.from(status, path: self.path, endpoint: self.endpoint, requestSent: self.requestMayHaveBeenSent))
            }
            // Our side may still be open (a bidirectional stream): end it too.
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.lastError = error
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.response.streamClosed() {
            let cause = (self.health.failureReason ?? self.lastError.map { "\($0)" }).map { ": \($0)" } ?? ""
            self.finish(EtcdError(
                .unavailable, "the connection to etcd ended during \(self.path)\(cause)",
                endpoint: self.endpoint, mayHaveApplied: self.requestMayHaveBeenSent
            ))
        }
        context.fireChannelInactive()
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        self.deadlineTask = nil
        guard self.response.streamClosed() else { return }
        self.finish(EtcdError(
            .deadlineExceeded, "no answer to \(self.path) within the call timeout",
            endpoint: self.endpoint, mayHaveApplied: self.requestMayHaveBeenSent
        ))
        context.close(promise: nil)
    }

    private func finish(_ error: EtcdError?) {
        self.deadlineTask?.cancel()
        self.deadlineTask = nil
        if let error {
            self.continuation.finish(throwing: error)
        } else {
            self.continuation.finish()
        }
    }
}

@available(*, unavailable)
extension GRPCStreamHandler: Sendable {}
