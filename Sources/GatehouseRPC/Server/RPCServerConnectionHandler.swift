import GatehouseTLS
import Logging
import NIOCore

/// Sent down a server connection's pipeline to start a graceful shutdown.
public struct RPCServerDrainEvent: Sendable {
    public init() {}
}

/// Runs the server side of one connection: frames in, calls dispatched to
/// the router's methods, responses and trailers out.
///
/// Every protocol decision is `ServerConnectionStateMachine`'s; this handler
/// only turns frames into its events and performs the actions it returns.
/// It parses and encodes frames itself (`FrameParser`, `Frame.encode`)
/// rather than through codec handlers: every call crosses this path twice,
/// and frames written before a flush leave as one buffer (a response and its
/// trailers), with no boxing of each frame on the way.
/// A call runs in its own task, and its results come back to the event
/// loop; unary methods that only wait on another thread (store writes) and
/// long-lived pushes (``RPCLoopCall``) run on the loop itself.
///
/// What one peer can make the server hold is bounded here:
/// - **Write backpressure.** While the channel is not writable (more than
///   `maxPendingOutput` octets the peer has not taken), frames already
///   received wait and nothing more is read, as NIO's `BackPressureHandler`
///   does for reads; so a peer that sends PINGs or unary calls and never
///   reads cannot queue answers without bound.
/// - **Floods.** PINGs and cancelled calls per window are counted
///   (``FloodGuard``); past the limit the connection ends with GOAWAY
///   `ENHANCE_YOUR_CALM`.
/// - **Authorization and metadata** are checked when HEADERS arrive, before
///   the call is held (``RPCMethod/checked(by:)``).
/// - **Close** releases every call, timer and buffer, and the handler drops
///   its context when removed, so nothing of a connection outlives it.
final class RPCServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// An open call: its context from HEADERS on, and its method once started.
    private struct RunningCall {
        enum Body {
            /// HEADERS accepted and authorized; the request has not arrived.
            case awaitingRequest
            case task(Task<Void, Never>, clientMessages: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?)
            /// A unary call started on the loop, waiting for its future: it
            /// learns of a cancellation through its context's ``RPCCallCancellation``.
            case unaryOnLoop
            case onLoop(RPCLoopCall)
        }

        let context: RPCServerContext
        var body: Body
    }

    private var stateMachine: ServerConnectionStateMachine
    private var parser: FrameParser
    /// Octets of a frame that has not fully arrived.
    private var received: ByteBuffer?
    /// Set after a malformed frame: the connection is going away, and nothing more it sends is read.
    private var stoppedReading = false
    /// Frames encoded but not yet flushed, and the promise of their write.
    private var unflushed: ByteBuffer?
    private var unflushedPromise: EventLoopPromise<Void>?
    private var keepalive: KeepaliveStateMachine?
    private let router: RPCRouter
    private let limits: RPCServerLimits
    private let metrics: RPCServerMetrics
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var peer: TLSPeerIdentity?
    /// The peer's address, read once: the channel's getter takes a lock, and every call's context carries it.
    private var remoteAddress: SocketAddress?
    private var calls: [StreamID: RunningCall] = [:]
    private var deadlines: [StreamID: Scheduled<Void>] = [:]
    private var helloTimeout: Scheduled<Void>?
    private var keepaliveTask: RepeatedTask?
    private var floodGuard: FloodGuard?
    /// After a GOAWAY that ends the connection: closes it even if the peer never takes the GOAWAY.
    private var forcedClose: Scheduled<Void>?
    /// A read the channel asked for while it was not writable: issued once it is.
    private var readPending = false
    /// Set while received frames are handled, against handling them out of order from a nested event.
    private var isProcessing = false

    init(router: RPCRouter, limits: RPCServerLimits, logger: Logger, metrics: RPCServerMetrics = .none) {
        self.router = router
        self.metrics = metrics
        self.limits = limits
        self.logger = logger
        self.parser = FrameParser(maxFrameSize: limits.maxFrameSize)
        self.stateMachine = ServerConnectionStateMachine(
            configuration: .init(
                supportedVersions: RPCProtocol.versions,
                settings: limits.helloSettings,
                maxConcurrentStreams: limits.maxConcurrentCallsPerConnection,
                methods: router.descriptorsByPath,
                maxMetadataPerCall: limits.maxMetadataPerCall,
                maxMetadataPerConnection: limits.maxMetadataPerConnection
            )
        )
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.remoteAddress = context.channel.remoteAddress
        if let remote = self.remoteAddress {
            self.logger[metadataKey: "peer.address"] = "\(remote.hostPort)"
        }
        // The bound past which this peer is not read until it takes what it was sent.
        let high = max(self.limits.maxPendingOutput, 2)
        try? context.channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
        self.floodGuard = FloodGuard(
            window: self.limits.floodWindow,
            maxPings: self.limits.maxPingsPerWindow,
            maxCancels: self.limits.maxCancelsPerWindow,
            now: context.eventLoop.now
        )
        if context.channel.isActive { self.startHandshakeTimer(context: context) }
    }

    /// Drops the context and everything that could hold it: a handler that
    /// kept its context would keep its pipeline, and the pipeline the handler.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.releaseEverything()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if self.remoteAddress == nil { self.remoteAddress = context.channel.remoteAddress }
        self.startHandshakeTimer(context: context)
        context.fireChannelActive()
    }

    /// The client has until the handshake timeout for TLS and its HELLO.
    /// Keepalive starts only once the server has sent its HELLO: no PING may precede it.
    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard self.helloTimeout == nil, !self.stateMachine.isClosed else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.helloTimeout = context.eventLoop.scheduleTask(in: self.limits.handshakeTimeout) {
            loopBound.value.helloTimeout = nil
            loopBound.value.perform(loopBound.value.stateMachine.connectionError(.timeout, "no HELLO within the handshake timeout"))
        }
    }

    /// Called when the server's HELLO goes out.
    private func startKeepalive(context: ChannelHandlerContext) {
        self.helloTimeout?.cancel()
        self.helloTimeout = nil
        guard self.keepaliveTask == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.keepalive = KeepaliveStateMachine(interval: self.limits.keepaliveInterval, idleTimeout: self.limits.idleTimeout, now: context.eventLoop.now)
        let tick = min(self.limits.keepaliveInterval, self.limits.idleTimeout)
        self.keepaliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            loopBound.value.keepaliveTick()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case TLSEvent.handshakeCompleted(let result):
            self.peer = result.peer
            self.logger[metadataKey: "peer.cn"] = "\(result.peer?.commonName ?? "-")"
            self.logger.info(
                "connection opened",
                metadata: [
                    "tls.version": "\(result.protocolVersion)",
                    "tls.cipher": "\(result.cipher)",
                    "tls.resumed": "\(result.sessionReused)",
                    "peer.fingerprint": "\(result.peer?.fingerprintSHA256 ?? "-")",
                ]
            )
        case is RPCServerDrainEvent:
            self.drain()
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.stoppedReading else { return }
        var bytes = self.unwrapInboundIn(data)
        if var earlier = self.received {
            self.received = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        self.received = bytes
        self.processReceived(context: context)
    }

    /// Handles the whole frames received, while the peer takes what it is
    /// sent; the rest waits in `received` for more octets or for writability.
    private func processReceived(context: ChannelHandlerContext) {
        // A write may make the channel writable again and call back in here:
        // the loop below then handles, in order, whatever arrived meanwhile.
        guard !self.isProcessing else { return }
        self.isProcessing = true
        defer { self.isProcessing = false }
        while !self.stoppedReading, var bytes = self.received {
            self.received = nil
            do {
                while context.channel.isWritable, let frame = try self.parser.nextFrame(from: &bytes) {
                    self.frameArrived(frame, now: context.eventLoop.now)
                    if self.stoppedReading { return }
                }
            } catch {
                self.badFrame(error)
                return
            }
            let arrivedMeanwhile = self.received
            if var more = arrivedMeanwhile { bytes.writeBuffer(&more) }
            if bytes.readableBytes > 0 {
                bytes.discardReadBytes()
                self.received = bytes
            } else {
                self.received = nil
            }
            guard arrivedMeanwhile != nil, context.channel.isWritable else { return }
        }
    }

    private func frameArrived(_ frame: Frame, now: NIODeadline) {
        self.keepalive?.frameReceived(now: now)
        // Counted before they are handled: a flood ends before its frame costs anything.
        let costly: FloodGuard.Event?
        switch frame {
        case .ping(let ping): costly = ping.ack ? nil : .ping
        case .cancel: costly = .cancel
        case .hello, .headers, .message, .trailers, .goAway: costly = nil
        }
        if let costly, case .tooMany(let reason)? = self.floodGuard?.record(costly, now: now) {
            self.perform(self.stateMachine.connectionError(.enhanceYourCalm, reason))
            return
        }
        self.perform(self.stateMachine.frameReceived(frame))
    }

    /// Reads only while the peer takes what it is sent (see the type's documentation).
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            self.readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !self.stoppedReading {
            self.processReceived(context: context)
            if self.readPending, context.channel.isWritable {
                self.readPending = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// A frame that breaks the protocol: GOAWAY with its code, then close; nothing after it is read.
    private func badFrame(_ error: FrameError) {
        self.logger.warning("connection closed: bad frame", metadata: ["error": "\(error)"])
        self.perform(self.stateMachine.connectionError(error.code, error.reason))
        self.stopReading()
    }

    /// The connection is going away: nothing more the peer sends is read or kept.
    private func stopReading() {
        self.stoppedReading = true
        self.received = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let tlsError as TLSError:
            // The TLS handler sends its alert and closes by itself.
            self.logger.warning("connection refused: TLS failed", metadata: ["error": "\(tlsError)"])
        default:
            self.logger.warning("connection closed on error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.stoppedReading, self.parser.isMidFrame || (self.received?.readableBytes ?? 0) > 0 {
            self.logger.warning("connection closed: bad frame", metadata: ["error": "the connection ended inside a frame"])
        }
        self.releaseEverything()
        self.logger.debug("connection closed")
        context.fireChannelInactive()
    }

    /// Stops every call and timer and drops every buffer: the connection is gone.
    private func releaseEverything() {
        self.stopReading()
        self.unflushed = nil
        self.unflushedPromise?.fail(ChannelError.ioOnClosedChannel)
        self.unflushedPromise = nil
        for streamID in self.stateMachine.channelClosed() {
            self.stopCall(streamID, reason: Self.connectionClosed)
        }
        for streamID in Array(self.calls.keys) { self.stopCall(streamID, reason: Self.connectionClosed) }
        for deadline in self.deadlines.values { deadline.cancel() }
        self.deadlines = [:]
        self.helloTimeout?.cancel()
        self.helloTimeout = nil
        self.keepaliveTask?.cancel()
        self.keepaliveTask = nil
        self.keepalive = nil
        self.forcedClose?.cancel()
        self.forcedClose = nil
    }

    // MARK: - Actions

    private func perform(_ action: ServerConnectionStateMachine.Action) {
        guard let context = self.context else { return }
        switch action {
        case .none:
            break
        case .send(let frame):
            self.send(frame, flush: true, promise: nil, context: context)
            if case .hello = frame { self.startKeepalive(context: context) }
        case .refuseCall(let path, let trailers):
            self.callEnded(path: path, trailers: trailers)
            self.send(.trailers(trailers), flush: true, promise: nil, context: context)
        case .openCall(let headers, let descriptor):
            self.openCall(headers, descriptor, context: context)
        case .startCall(let headers, let descriptor, let request, let clientClosed):
            self.startCall(headers: headers, descriptor: descriptor, request: request, clientClosed: clientClosed, context: context)
        case .deliverClientMessage(let streamID, let payload, let endStream):
            self.deliverClientMessage(streamID, payload: payload, endStream: endStream)
        case .cancelCall(let streamID, _, let closeConnection):
            self.logger.debug("call cancelled by the client", metadata: ["rpc.stream": "\(streamID)"])
            self.stopCall(streamID, reason: RPCError(.cancelled, "the client cancelled the call"))
            if closeConnection { context.close(promise: nil) }
        case .endCall(let trailers, let closeConnection):
            if let path = self.calls[trailers.streamID]?.context.path {
                self.callEnded(path: path, trailers: trailers)
            }
            // TRAILERS first: stopping a call may end a draining connection.
            self.write(.trailers(trailers), thenClose: closeConnection, context: context)
            self.stopCall(trailers.streamID, reason: RPCError(status: trailers.status))
        case .closeWithGoAway(let goAway):
            if goAway.errorCode != .noError {
                self.logger.warning("connection closed: \(goAway.errorCode)", metadata: ["reason": "\(goAway.debug)"])
            }
            self.stopReading()
            self.write(.goAway(goAway), thenClose: true, context: context)
        case .close:
            context.close(promise: nil)
        }
    }

    /// Writes and flushes a frame; closes the connection once it is on its way, if asked to.
    private func write(_ frame: Frame, thenClose: Bool, context: ChannelHandlerContext) {
        guard thenClose else {
            self.send(frame, flush: true, promise: nil, context: context)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        self.send(frame, flush: true, promise: written, context: context)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        // A peer that does not read never lets the frame be written: close anyway.
        guard self.forcedClose == nil else { return }
        self.forcedClose = context.eventLoop.scheduleTask(in: Self.closeLinger) {
            // The first close asks TLS for close_notify, which waits to be
            // written too; the second finds TLS closing and closes the socket.
            channel.close(promise: nil)
            channel.close(promise: nil)
        }
    }

    /// How long a frame that ends the connection (GOAWAY, the last TRAILERS) may wait to be written.
    static let closeLinger: TimeAmount = .seconds(2)

    /// Encodes `frame` after the frames written since the last flush; with
    /// `flush`, writes them all as one buffer. `promise` completes with that write.
    private func send(_ frame: Frame, flush: Bool, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        var buffer = self.unflushed ?? context.channel.allocator.buffer(capacity: Self.frameBufferCapacity)
        self.unflushed = nil  // so the buffer is not shared while it grows
        frame.encode(into: &buffer)
        self.unflushed = buffer
        if let promise {
            if let earlier = self.unflushedPromise {
                earlier.futureResult.cascade(to: promise)
            } else {
                self.unflushedPromise = promise
            }
        }
        if flush { self.flushUnflushed() }
    }

    /// Enough for a unary response and its trailers, the common write.
    private static let frameBufferCapacity = 256

    /// Counts the call's end and logs it when it failed.
    private func callEnded(path: String, trailers: Frame.Trailers) {
        self.metrics.callEnded(path: path, code: trailers.status.code)
        guard !trailers.status.isOK else { return }
        self.logger.info(
            "call failed",
            metadata: ["rpc.method": "\(path)", "rpc.stream": "\(trailers.streamID)", "rpc.status": "\(trailers.status.code)", "rpc.message": "\(trailers.status.message)"]
        )
    }

    private func openCallsChanged() {
        guard let context = self.context else { return }
        self.keepalive?.openCallsChanged(hasOpenCalls: self.stateMachine.hasOpenStreams, now: context.eventLoop.now)
    }

    private func keepaliveTick() {
        guard let context = self.context, var keepalive = self.keepalive else { return }
        let action = keepalive.tick(now: context.eventLoop.now)
        self.keepalive = keepalive
        switch action {
        case .none:
            break
        case .sendPing:
            self.send(.ping(Frame.Ping(ack: false, payload: UInt64.random(in: 0...UInt64.max))), flush: true, promise: nil, context: context)
        case .closeUnresponsive:
            self.perform(self.stateMachine.connectionError(.timeout, "no answer to keepalive PING"))
        case .closeIdle:
            self.perform(self.stateMachine.connectionError(.noError, "idle timeout"))
        }
    }

    // MARK: - Calls

    /// HEADERS were accepted: the method's check runs now, with the caller's
    /// identity and the path, before the call holds anything or its request
    /// is read; then its deadline is armed, counted from now.
    private func openCall(_ headers: Frame.Headers, _ descriptor: RPCMethodDescriptor, context: ChannelHandlerContext) {
        guard let method = self.router.methods[headers.path] else {
            preconditionFailure("the state machine opened \(headers.path), which the router does not have")
        }
        let streamID = headers.streamID
        let deadline = headers.timeoutMilliseconds > 0 ? context.eventLoop.now + .milliseconds(Int64(headers.timeoutMilliseconds)) : nil
        let callContext = RPCServerContext(
            path: headers.path,
            metadata: headers.metadata,
            deadline: deadline,
            peer: self.peer,
            remoteAddress: self.remoteAddress,
            logger: self.logger,
            streamID: streamID,
            peerMaxFrameSize: Int(self.stateMachine.peerMaxFrameSize)
        )
        if let check = method.check {
            do {
                try check(callContext)
            } catch {
                self.perform(self.stateMachine.callFinished(streamID, status: RPCError(error, in: callContext).status))
                return
            }
        }
        self.calls[streamID] = RunningCall(context: callContext, body: .awaitingRequest)
        if let deadline {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            self.deadlines[streamID] = context.eventLoop.scheduleTask(deadline: deadline) {
                loopBound.value.deadlines[streamID] = nil
                loopBound.value.perform(loopBound.value.stateMachine.deadlineExpired(streamID))
            }
        }
        self.openCallsChanged()
    }

    private func startCall(headers: Frame.Headers, descriptor: RPCMethodDescriptor, request: ByteBuffer, clientClosed: Bool, context: ChannelHandlerContext) {
        guard let method = self.router.methods[headers.path], let callContext = self.calls[headers.streamID]?.context else {
            preconditionFailure("the state machine started \(headers.path), which was not opened or the router does not have")
        }
        let streamID = headers.streamID
        // Weak: a method may keep its writer or its call after the connection closed.
        let loopBound = NIOLoopBound(WeakHandler(self), eventLoop: context.eventLoop)
        let implementation = method.implementation
        if case .loopUnary(let handler) = implementation {
            self.calls[streamID] = RunningCall(context: callContext, body: .unaryOnLoop)
            self.openCallsChanged()
            // The future may complete on another thread (a store's writer): hop back to the loop.
            handler(request, callContext, context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                switch result {
                case .success(let response):
                    loopBound.value.handler?.callReturned(streamID, status: .ok, response: response)
                case .failure(let error):
                    loopBound.value.handler?.callReturned(streamID, status: RPCError(error, in: callContext).status, response: nil)
                }
            }
            return
        }
        if case .loopStreaming(let handler) = implementation {
            let writer = RPCLoopWriter(eventLoop: context.eventLoop) { payload in
                loopBound.value.sendResponse(payload, on: streamID, eventLoop: loopBound.eventLoop)
            }
            let call = RPCLoopCall(context: callContext, writer: writer) { status in
                loopBound.value.handler?.callReturned(streamID, status: status, response: nil)
            }
            self.calls[streamID] = RunningCall(context: callContext, body: .onLoop(call))
            self.openCallsChanged()
            call.start(handler, request: request)
            return
        }
        let writer = RPCResponseWriter { payload in
            try await loopBound.eventLoop.flatSubmit { loopBound.value.sendResponse(payload, on: streamID, eventLoop: loopBound.eventLoop) }.get()
        }

        var clientMessages = RPCClientMessages.none
        var continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
        if descriptor.acceptsClientMessages {
            let (messages, messagesContinuation) = RPCClientMessages.makeStream()
            clientMessages = messages
            continuation = messagesContinuation
            if clientClosed { messagesContinuation.finish() }
        }

        let task = Task {
            let status: RPCStatus
            var unaryResponse: ByteBuffer?
            do {
                switch implementation {
                case .unary(let handler):
                    // Sent with the TRAILERS in one flush: one TLS record, one write.
                    unaryResponse = try await handler(request, callContext)
                case .serverStreaming(let handler):
                    try await handler(request, clientMessages, writer, callContext)
                case .loopStreaming, .loopUnary:
                    preconditionFailure("event-loop methods run without a task")
                }
                status = .ok
            } catch {
                status = RPCError(error, in: callContext).status
            }
            let response = status.isOK ? unaryResponse : nil
            loopBound.eventLoop.execute {
                loopBound.value.handler?.callReturned(streamID, status: status, response: response)
            }
        }
        self.calls[streamID] = RunningCall(context: callContext, body: .task(task, clientMessages: continuation))
        self.openCallsChanged()
    }

    fileprivate func sendResponse(_ payload: ByteBuffer, on streamID: StreamID, eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let context = self.context, self.stateMachine.isRunning(streamID) else {
            return eventLoop.makeFailedFuture(RPCError(.cancelled, "the call has ended"))
        }
        guard payload.readableBytes <= Int(self.stateMachine.peerMaxFrameSize) else {
            let limit = self.stateMachine.peerMaxFrameSize
            return context.eventLoop.makeFailedFuture(
                RPCError(.resourceExhausted, "a response of \(payload.readableBytes) octets exceeds the client's maximum frame size of \(limit)")
            )
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.send(.message(Frame.Message(streamID: streamID, payload: payload)), flush: true, promise: promise, context: context)
        return promise.futureResult
    }

    private func deliverClientMessage(_ streamID: StreamID, payload: ByteBuffer, endStream: Bool) {
        switch self.calls[streamID]?.body {
        case .task(_, clientMessages: let continuation?):
            self.yield(payload, endStream: endStream, to: continuation, on: streamID)
        case .onLoop(let call):
            call.received(payload)  // a half-close ends nothing: the server decides when the stream ends
        case .task(_, clientMessages: nil), .unaryOnLoop, .awaitingRequest, nil:
            break
        }
    }

    private func yield(_ payload: ByteBuffer, endStream: Bool, to continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation, on streamID: StreamID) {
        if case .dropped = continuation.yield(payload) {
            let status = RPCStatus(code: .resourceExhausted, message: "more than \(RPCClientMessages.bufferLimit) client messages unread")
            self.perform(self.stateMachine.endCallEarly(streamID, status: status))
            return
        }
        if endStream { continuation.finish() }
    }

    /// The method returned: the state machine decides whether TRAILERS still go out.
    fileprivate func callReturned(_ streamID: StreamID, status: RPCStatus, response: ByteBuffer?) {
        var status = status
        if let response, let context = self.context, self.stateMachine.isRunning(streamID) {
            let limit = self.stateMachine.peerMaxFrameSize
            if response.readableBytes <= Int(limit) {
                // Flushed with the TRAILERS that follow: one buffer, one TLS record.
                self.send(.message(Frame.Message(streamID: streamID, payload: response)), flush: false, promise: nil, context: context)
            } else {
                status = RPCStatus(code: .resourceExhausted, message: "a response of \(response.readableBytes) octets exceeds the client's maximum frame size of \(limit)")
            }
        }
        self.perform(self.stateMachine.callFinished(streamID, status: status))
        self.calls[streamID] = nil
        self.openCallsChanged()
        self.flushUnflushed()  // a response whose TRAILERS the state machine did not send
    }

    /// Writes and flushes the frames encoded since the last flush, as one buffer.
    private func flushUnflushed() {
        guard let context = self.context, let buffer = self.unflushed else { return }
        self.unflushed = nil
        let written = self.unflushedPromise
        self.unflushedPromise = nil
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: written)
    }

    private static let connectionClosed = RPCError(.unavailable, "the connection closed")

    /// Stops a call's method and timers and marks it cancelled; sends nothing.
    /// A method that ends at once is reported to the state machine here; a
    /// task or a unary future keeps the call's place until it has returned.
    private func stopCall(_ streamID: StreamID, reason: RPCError) {
        self.deadlines.removeValue(forKey: streamID)?.cancel()
        guard let call = self.calls.removeValue(forKey: streamID) else { return }
        call.context.cancellation.cancel()
        switch call.body {
        case .task(let task, let clientMessages):
            clientMessages?.finish()
            task.cancel()
        case .unaryOnLoop:
            break
        case .onLoop(let loopCall):
            loopCall.endedByConnection(reason)
            self.perform(self.stateMachine.workEnded(streamID))
        case .awaitingRequest:
            self.perform(self.stateMachine.workEnded(streamID))
        }
        self.openCallsChanged()
    }

    private func drain() {
        guard let context = self.context else { return }
        let (goAway, streamsToEnd, closeNow) = self.stateMachine.beginDraining()
        if let goAway {
            self.send(.goAway(goAway), flush: true, promise: nil, context: context)
        }
        for streamID in streamsToEnd {
            let status = RPCStatus(code: .unavailable, message: "the server is shutting down; resume on another connection")
            self.perform(self.stateMachine.endCallEarly(streamID, status: status))
        }
        if closeNow { context.close(promise: nil) }
    }
}

/// The handler as its calls' closures hold it: weakly, so that a method
/// that keeps its writer or its ``RPCLoopCall`` after the connection closed
/// does not keep the connection's handler, and its calls, alive.
private struct WeakHandler {
    weak var handler: RPCServerConnectionHandler?

    init(_ handler: RPCServerConnectionHandler) {
        self.handler = handler
    }

    func sendResponse(_ payload: ByteBuffer, on streamID: StreamID, eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let handler = self.handler else {
            return eventLoop.makeFailedFuture(RPCError(.cancelled, "the connection closed"))
        }
        return handler.sendResponse(payload, on: streamID, eventLoop: eventLoop)
    }
}
