import Logging
import NIOCore

/// Mutual TLS on OpenSSL as a SwiftNIO handler: ciphertext below, plaintext above.
///
/// Put it first in a pipeline; handlers above it read and write plaintext
/// `ByteBuffer`s and learn the outcome of the handshake from
/// ``TLSEvent/handshakeCompleted(_:)`` (also kept in ``handshakeResult``).
///
/// Behaviour that the layers above rely on:
/// - The handshake starts when the channel becomes active (or at once, if the
///   handler is added to an active channel) and must finish within the
///   context's handshake timeout, or the channel is closed with
///   ``TLSError/Kind/handshakeTimeout``.
/// - Writes made before the handshake completes are buffered, and flushed
///   after it as they were flushed before. Each write's promise completes
///   when its ciphertext has been written below (it is cascaded), and is
///   failed, never dropped, if the connection ends first.
/// - Any failure is fired with `fireErrorCaught` as a ``TLSError``, after
///   which the channel is closed; a failed handshake first flushes the alert
///   OpenSSL produced, so the peer learns why.
/// - Closing the channel sends `close_notify`, flushes it, then closes.
///   Receiving `close_notify` answers it and closes. Half-closure is not
///   offered: closing output also ends reading, because the RPC protocol
///   above always ends both directions together (PROTOCOL.md §1).
///
/// The handler is bound to its channel's event loop and is not `Sendable`.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Added, channel not yet active.
        case idle
        /// Handshake messages are being exchanged.
        case handshaking
        /// Handshake done: application data flows both ways.
        case active
        /// Ending: `close_notify` sent (or a failure reported) and the channel is being closed.
        /// Nothing more is read or written.
        case closing
        /// The channel is inactive or the handler removed.
        case closed
    }

    /// A plaintext write waiting for the handshake or for `flush`.
    private struct BufferedWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    /// What the handshake negotiated, once it has completed; `nil` before.
    public private(set) var handshakeResult: TLSHandshakeResult?

    private var state: State = .idle
    private let connection: TLSConnection
    /// Writes not yet encrypted; the mark is the last one a `flush` covered.
    private var bufferedWrites = MarkedCircularBuffer<BufferedWrite>(initialCapacity: 2)  // idle connections are the many
    private var handshakeTimeoutTask: Scheduled<Void>?
    private let logger: Logger

    /// Creates a handler for one connection.
    ///
    /// - Parameters:
    ///   - context: a server or client ``TLSContext``; decides the role.
    ///   - serverHostname: client only: the name (or IP address) the server
    ///     certificate must carry; also sent as SNI. `nil` verifies the chain only.
    ///   - sessionKey: client only: the key under which this connection's
    ///     session is cached for resumption, usually `host:port`. `nil` disables resumption.
    ///   - logger: handshake outcomes are logged at debug level.
    public init(
        context: TLSContext,
        serverHostname: String? = nil,
        sessionKey: String? = nil,
        logger: Logger = Logger(label: "gatehouse.tls")
    ) {
        self.connection = TLSConnection(context: context, serverHostname: serverHostname, sessionKey: sessionKey)
        self.logger = logger
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.startHandshake(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.state = .closed
        self.cancelHandshakeTimeout()
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let previous = self.state
        self.state = .closed
        self.cancelHandshakeTimeout()
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        switch previous {
        case .handshaking, .active:
            // The transport ended without close_notify: mid-handshake, or a possibly truncated stream.
            self.logger.debug("TLS connection closed without close_notify")
            context.fireErrorCaught(TLSError(.unexpectedClose))
        case .idle, .closing, .closed:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = self.unwrapInboundIn(data)
        switch self.state {
        case .idle:
            // The peer spoke before we saw channelActive: start now, with its bytes.
            self.connection.receiveCiphertext(ciphertext)
            self.startHandshake(context: context)
        case .handshaking:
            self.connection.receiveCiphertext(ciphertext)
            self.advanceHandshake(context: context)
        case .active:
            self.connection.receiveCiphertext(ciphertext)
            self.readPlaintext(context: context)
        case .closing, .closed:
            break  // the connection is ending; nothing more is delivered
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.state {
        case .idle, .handshaking, .active:
            self.bufferedWrites.append(BufferedWrite(data: self.unwrapOutboundIn(data), promise: promise))
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.bufferedWrites.mark()  // remembered, and honoured once the handshake completes
        case .active:
            self.bufferedWrites.mark()
            self.encryptFlushedWrites(context: context)
        case .closing, .closed:
            context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: mode, promise: promise)
            return
        case .output, .all:
            break
        }
        switch self.state {
        case .idle, .handshaking:
            // No close_notify can be sent before the handshake is done.
            self.state = .closing
            self.cancelHandshakeTimeout()
            self.failBufferedWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: mode, promise: promise)
        case .active:
            self.state = .closing
            // As with any NIO channel, writes not yet flushed are failed on close.
            self.failBufferedWrites(ChannelError.ioOnClosedChannel)
            self.connection.sendCloseNotify()
            self.logger.debug("TLS close_notify sent")
            self.flushThenClose(context: context, mode: mode, promise: promise)
        case .closing, .closed:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: - Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard case .idle = self.state else { return }
        self.state = .handshaking
        let timeout = self.connection.context.handshakeTimeout
        self.handshakeTimeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.handshakeTimedOut(context: context)
        }
        self.advanceHandshake(context: context)
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        switch self.connection.doHandshake() {
        case .incomplete:
            self.sendPendingCiphertext(context: context)
        case .complete:
            self.handshakeCompleted(context: context)
        case .failed(let error):
            self.fail(context: context, error: error)
        }
    }

    private func handshakeCompleted(context: ChannelHandlerContext) {
        self.cancelHandshakeTimeout()
        let result = self.connection.handshakeResult()
        self.handshakeResult = result
        self.state = .active
        self.logger.debug(
            "TLS handshake completed",
            metadata: [
                "tls.version": "\(result.protocolVersion)",
                "tls.cipher": "\(result.cipher)",
                "tls.alpn": "\(result.negotiatedProtocol ?? "-")",
                "tls.resumed": "\(result.sessionReused)",
                "tls.peer": "\(result.peer?.subject ?? "-")",
            ]
        )
        self.sendPendingCiphertext(context: context)
        self.connection.releaseHandshakeBuffers()
        context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(result))
        self.encryptFlushedWrites(context: context)
        // Application data may have arrived together with the peer's last handshake flight.
        self.readPlaintext(context: context)
    }

    private func handshakeTimedOut(context: ChannelHandlerContext) {
        self.handshakeTimeoutTask = nil
        guard case .handshaking = self.state else { return }
        self.fail(context: context, error: TLSError(.handshakeTimeout))
    }

    private func cancelHandshakeTimeout() {
        self.handshakeTimeoutTask?.cancel()
        self.handshakeTimeoutTask = nil
    }

    // MARK: - Data

    /// Delivers every whole record that has arrived; handles the peer's close_notify and alerts.
    private func readPlaintext(context: ChannelHandlerContext) {
        reading: while case .active = self.state {
            switch self.connection.readPlaintext(allocator: context.channel.allocator) {
            case .data(let plaintext):
                context.fireChannelRead(self.wrapInboundOut(plaintext))
            case .needMoreCiphertext:
                break reading
            case .closeNotify:
                self.peerSentCloseNotify(context: context)
                return
            case .failed(let error):
                self.fail(context: context, error: error)
                return
            }
        }
        self.sendPendingCiphertext(context: context)  // e.g. a KeyUpdate answer
    }

    /// Encrypts the writes covered by a flush and passes the ciphertext down,
    /// each write's promise riding on its own ciphertext.
    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        var wroteAny = false
        while case .active = self.state, self.bufferedWrites.hasMark {
            let write = self.takeFlushedWrites()
            switch self.connection.writePlaintext(write.data) {
            case .success:
                let ciphertext = self.connection.takeCiphertext(allocator: context.channel.allocator)
                    ?? context.channel.allocator.buffer(capacity: 0)
                context.write(self.wrapOutboundOut(ciphertext), promise: write.promise)
                wroteAny = true
            case .failure(let error):
                write.promise?.fail(error)
                self.fail(context: context, error: error)
                return
            }
        }
        if wroteAny {
            context.flush()
        }
    }

    /// The first flushed write, with the flushed writes after it appended
    /// while they fit one TLS record: small writes flushed together (a
    /// response and its trailers) cost one SSL_write, one record and one
    /// buffer down the pipeline, not one each. Their promises complete together.
    private func takeFlushedWrites() -> BufferedWrite {
        var write = self.bufferedWrites.removeFirst()
        while self.bufferedWrites.hasMark, let next = self.bufferedWrites.first,
            write.data.readableBytes + next.data.readableBytes <= Self.maximumRecordPlaintext
        {
            _ = self.bufferedWrites.removeFirst()
            write.data.writeImmutableBuffer(next.data)
            switch (write.promise, next.promise) {
            case (let first?, let later?): first.futureResult.cascade(to: later)
            case (nil, let later?): write.promise = later
            case (_, nil): break
            }
        }
        return write
    }

    /// The most plaintext one TLS record carries (RFC 8446, 5.1).
    private static let maximumRecordPlaintext = 16_384

    /// Sends whatever OpenSSL has queued (handshake flights, alerts, tickets).
    private func sendPendingCiphertext(context: ChannelHandlerContext) {
        if let ciphertext = self.connection.takeCiphertext(allocator: context.channel.allocator) {
            context.writeAndFlush(self.wrapOutboundOut(ciphertext), promise: nil)
        }
    }

    // MARK: - Endings

    /// The peer ended the session cleanly: answer with our close_notify and close.
    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        self.state = .closing
        self.logger.debug("TLS close_notify received")
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        self.connection.sendCloseNotify()
        self.flushThenClose(context: context, mode: .all, promise: nil)
    }

    /// Reports `error`, sends any alert OpenSSL queued, then closes the channel.
    private func fail(context: ChannelHandlerContext, error: TLSError) {
        switch self.state {
        case .closing, .closed:
            return  // already ending; the first failure was reported
        case .idle, .handshaking, .active:
            break
        }
        self.state = .closing
        self.cancelHandshakeTimeout()
        self.failBufferedWrites(error)
        self.logger.debug("TLS failure", metadata: ["error": "\(error)"])
        context.fireErrorCaught(error)
        self.flushThenLinger(context: context)
    }

    /// How long a failed connection lingers, half-closed, for the peer to read our alert.
    static let alertLinger: TimeAmount = .seconds(2)

    /// Writes the pending alert, closes our sending side, and closes fully once
    /// the peer has read it and closed (or after `alertLinger`).
    ///
    /// Closing at once while the peer's own handshake bytes sit unread in our
    /// socket makes the kernel send a TCP reset, which can destroy the alert
    /// before the peer reads it; a half-close keeps the explanation intact.
    private func flushThenLinger(context: ChannelHandlerContext) {
        let ciphertext = self.connection.takeCiphertext(allocator: context.channel.allocator)
        let written = ciphertext.map { context.writeAndFlush(self.wrapOutboundOut($0)) } ?? context.eventLoop.makeSucceededVoidFuture()
        written.assumeIsolated().whenComplete { _ in
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    context.eventLoop.assumeIsolated().scheduleTask(in: Self.alertLinger) {
                        context.close(promise: nil)
                    }
                case .failure:
                    // Half-closing is not supported here (e.g. in-memory channels): close outright.
                    context.close(promise: nil)
                }
            }
        }
    }

    /// Writes out pending ciphertext (close_notify or an alert) and closes once it is written,
    /// so that closing never discards the bytes that explain the close.
    private func flushThenClose(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard let ciphertext = self.connection.takeCiphertext(allocator: context.channel.allocator) else {
            context.close(mode: mode, promise: promise)
            return
        }
        context.writeAndFlush(self.wrapOutboundOut(ciphertext)).assumeIsolated().whenComplete { _ in
            context.close(mode: mode, promise: promise)
        }
    }

    private func failBufferedWrites(_ error: Error) {
        while let write = self.bufferedWrites.popFirst() {
            write.promise?.fail(error)
        }
    }
}

/// The handler touches its OpenSSL state without locks: it must only be used
/// on its channel's event loop, which NIO guarantees for pipeline callbacks.
@available(*, unavailable)
extension TLSHandler: Sendable {}
