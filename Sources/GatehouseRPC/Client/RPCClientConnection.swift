import GatehouseTLS
import Logging
import NIOCore
import NIOPosix

/// One mTLS connection to a Gatehouse server, carrying any number of
/// concurrent calls.
public final class RPCClientConnection: Sendable {
    let channel: any Channel
    /// The server's HELLO: its settings.
    public let serverHello: Frame.Hello

    private init(channel: any Channel, serverHello: Frame.Hello) {
        self.channel = channel
        self.serverHello = serverHello
    }

    /// Connects, completes the TLS handshake and the HELLO exchange.
    ///
    /// - Parameters:
    ///   - serverHostname: the name (or IP) the server certificate must carry; nil skips the name check.
    ///   - connectTimeout: TCP connect, TLS and HELLO together.
    public static func connect(
        host: String,
        port: Int,
        tls: TLSContext,
        serverHostname: String?,
        maxFrameSize: UInt32 = 1_048_576,
        connectTimeout: TimeAmount = .seconds(10),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gatehouse.rpc.client")
    ) async throws -> RPCClientConnection {
        let eventLoop = group.next()
        // One deadline for all of it: TCP connect, the TLS handshake and the server's HELLO.
        let deadline = NIODeadline.now() + connectTimeout
        let ready = eventLoop.makePromise(of: Frame.Hello.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            TLSHandler(context: tls, serverHostname: serverHostname, sessionKey: "\(host):\(port)", logger: logger),
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)),
                            MessageToByteHandler(FrameEncoder()),
                            RPCClientConnectionHandler(readyPromise: ready, maxFrameSize: maxFrameSize, logger: logger)
                        )
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            ready.fail(error)
            throw RPCError(.unavailable, "cannot connect to \(host):\(port): \(error)", cause: error)
        }
        let timeout = eventLoop.scheduleTask(deadline: deadline) {
            ready.fail(RPCError(.deadlineExceeded, "no TLS handshake and HELLO from \(host):\(port) within \(connectTimeout.nanoseconds / 1_000_000) ms"))
        }
        do {
            let hello = try await ready.futureResult.get()
            timeout.cancel()
            return RPCClientConnection(channel: channel, serverHello: hello)
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            throw error
        }
    }

    /// The TLS handshake's outcome: protocol, cipher, the server's identity.
    public var handshake: TLSHandshakeResult? {
        get async {
            try? await self.onLoop { $0.handshake }
        }
    }

    /// Opens a call, sends its request, and returns its responses as they come.
    ///
    /// - Parameters:
    ///   - endStream: true when no client message will follow the request.
    public func call(
        _ path: String,
        request: ByteBuffer,
        endStream: Bool = true,
        timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> RPCResponseStream {
        let amount = timeout.map { TimeAmount.nanoseconds(Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000) }
        let opened = try await self.onLoop { handler in
            handler.openCall(path: path, request: request, endStream: endStream, timeout: amount, metadata: metadata)
        }
        let (streamID, stream) = try opened.get()
        return RPCResponseStream(base: stream, streamID: streamID, connection: self)
    }

    /// A unary call: one request, exactly one response.
    public func unary(
        _ path: String,
        request: ByteBuffer,
        timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> ByteBuffer {
        let responses = try await self.call(path, request: request, endStream: true, timeout: timeout, metadata: metadata)
        return try await withTaskCancellationHandler {
            var response: ByteBuffer?
            for try await message in responses {
                guard response == nil else {
                    responses.cancel()
                    throw RPCError(.internal, "the server sent more than one response to unary \(path)")
                }
                response = message
            }
            guard let response else {
                throw RPCError(.internal, "the server ended unary \(path) with OK but no response")
            }
            return response
        } onCancel: {
            responses.cancel()
        }
    }

    func send(_ message: ByteBuffer, endStream: Bool, on streamID: StreamID) async throws {
        try await self.channel.eventLoop.flatSubmit { [channel] in
            do {
                return try Self.handler(of: channel).send(message, endStream: endStream, on: streamID)
            } catch {
                return channel.eventLoop.makeFailedFuture(RPCError(.unavailable, "the connection is closed"))
            }
        }.get()
    }

    func cancel(_ streamID: StreamID) {
        self.channel.eventLoop.execute { [channel] in
            try? Self.handler(of: channel).cancel(streamID, reason: nil)
        }
    }

    /// Closes the connection (TLS close_notify); open calls fail UNAVAILABLE.
    public func close() async {
        try? await self.channel.close()
    }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (RPCClientConnectionHandler) -> T) async throws -> T {
        try await self.channel.eventLoop.submit { [channel] in
            body(try Self.handler(of: channel))
        }.get()
    }

    private static func handler(of channel: any Channel) throws -> RPCClientConnectionHandler {
        do {
            return try channel.pipeline.syncOperations.handler(type: RPCClientConnectionHandler.self)
        } catch {
            throw RPCError(.unavailable, "the connection is closed")
        }
    }
}
