import GatehouseTLS
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Synchronization

/// Whether a connection may carry new calls; set from its event loop, read by any caller.
final class EtcdConnectionHealth: Sendable {
    private let draining = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let failure = Mutex<String?>(nil)

    func markDraining() { self.draining.store(true, ordering: .relaxed) }
    func markClosed() { self.closed.store(true, ordering: .relaxed) }

    /// Why the connection failed after setup (a TLS alert from etcd, say), in
    /// words for the calls that were open on it; the first reason is kept.
    var failureReason: String? {
        get { self.failure.withLock { $0 } }
        set { self.failure.withLock { if $0 == nil { $0 = newValue } } }
    }

    var acceptsCalls: Bool {
        !self.draining.load(ordering: .relaxed) && !self.closed.load(ordering: .relaxed)
    }
}

/// One HTTP/2 connection over mutual TLS to one etcd member; each call is a stream on it.
final class EtcdConnection: Sendable {
    let endpoint: EtcdEndpoint
    /// Which of the client's endpoints this is (for round robin).
    let endpointIndex: Int
    private let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let health: EtcdConnectionHealth

    /// The largest response message accepted (a Range of many records).
    static let maximumMessageLength = 64 << 20

    private init(endpoint: EtcdEndpoint, endpointIndex: Int, channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, health: EtcdConnectionHealth) {
        self.endpoint = endpoint
        self.endpointIndex = endpointIndex
        self.channel = channel
        self.multiplexer = multiplexer
        self.health = health
    }

    /// Whether new calls may go here: open, and etcd has not sent GOAWAY.
    var acceptsCalls: Bool { self.channel.isActive && self.health.acceptsCalls }

    /// Connects, completes TLS (checking ALPN `h2`), and sets up HTTP/2.
    ///
    /// - Throws: ``EtcdError`` `.unavailable` naming the endpoint and what failed.
    static func connect(
        to endpoint: EtcdEndpoint,
        index: Int,
        tls: TLSContext,
        timeout: TimeAmount,
        group: any EventLoopGroup,
        logger: Logger
    ) async throws(EtcdError) -> EtcdConnection {
        let eventLoop = group.next()
        let ready = eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
        let health = EtcdConnectionHealth()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            TLSHandler(context: tls, serverHostname: endpoint.host, sessionKey: endpoint.authority, logger: logger),
                            EtcdConnectionSetupHandler(endpoint: endpoint, ready: ready, health: health)
                        )
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port)
                .get()
        } catch {
            ready.fail(error)
            throw EtcdConnectionSetupHandler.explain(error, endpoint: endpoint)
        }
        let timer = eventLoop.scheduleTask(in: timeout) {
            ready.fail(EtcdError(
                .unavailable, "\(endpoint) did not complete TLS and HTTP/2 setup within \(timeout.nanoseconds / 1_000_000) ms (stopped, overloaded, or not etcd)",
                endpoint: endpoint.description
            ))
        }
        do {
            let multiplexer = try await ready.futureResult.get()
            timer.cancel()
            return EtcdConnection(endpoint: endpoint, endpointIndex: index, channel: channel, multiplexer: multiplexer, health: health)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if let error = error as? EtcdError { throw error }
            throw EtcdConnectionSetupHandler.explain(error, endpoint: endpoint)
        }
    }

    /// Opens a stream for a call to `path` and sends its request headers
    /// (and `firstMessage`, ending our side when `endStream`).
    ///
    /// - Returns: the stream's channel, to write further messages to and to
    ///   close for cancellation, and the responses; the response sequence
    ///   ends with the call (throwing an ``EtcdError`` for anything but OK).
    func openCall(
        path: String,
        firstMessage: ByteBuffer?,
        endStream: Bool,
        deadline: NIODeadline?
    ) async throws(EtcdError) -> EtcdCallStream {
        let (responses, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let endpoint = self.endpoint
        let health = self.health
        let headers = EtcdRequestHeaders.make(path: path, authority: endpoint.authority, deadline: deadline)
        let streamChannel: any Channel
        do {
            streamChannel = try await self.multiplexer.createStreamChannel { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GRPCStreamHandler(
                        endpoint: endpoint.description, path: path, deadline: deadline,
                        maximumMessageLength: Self.maximumMessageLength, health: health, continuation: continuation
                    ))
                }
            }.get()
        } catch {
            continuation.finish()
            // A connection etcd just refused (our certificate, in TLS 1.3) says why; prefer that to "closed".
            let cause = self.health.failureReason ?? "\(error)"
            throw EtcdError(.unavailable, "cannot open a stream to \(endpoint) for \(path): \(cause)", endpoint: endpoint.description)
        }
        let call = EtcdCallStream(channel: streamChannel, responses: responses)
        streamChannel.write(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: firstMessage == nil && endStream)), promise: nil)
        if let firstMessage {
            call.send(firstMessage, endStream: endStream)
        } else {
            streamChannel.flush()
        }
        return call
    }

    /// Whether the member still answers an HTTP/2 PING within `timeout`
    /// (see ``EtcdConnectionMonitor``); false when the connection is closed.
    func isAlive(timeout: TimeAmount) async -> Bool {
        let channel = self.channel
        let answered = channel.eventLoop.flatSubmit {
            let monitor = try? channel.pipeline.syncOperations.handler(type: EtcdConnectionMonitor.self)
            return monitor?.probe(timeout: timeout) ?? channel.eventLoop.makeSucceededFuture(false)
        }
        return (try? await answered.get()) ?? false
    }

    /// Closes the connection; calls still open on it fail UNAVAILABLE.
    func close() {
        self.health.markDraining()
        self.channel.close(promise: nil)
    }
}

/// One open call: its stream channel (to send on and to cancel) and its responses.
struct EtcdCallStream: Sendable {
    let channel: any Channel
    let responses: AsyncThrowingStream<ByteBuffer, any Error>

    /// Sends one request message (framed), ending our side of the stream when `endStream`.
    func send(_ message: ByteBuffer, endStream: Bool) {
        let framed = GRPCMessageFraming.frame(message, allocator: self.channel.allocator)
        self.channel.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed), endStream: endStream)), promise: nil)
    }

    /// Ends the call now: resets the stream (etcd stops the watch or keepalive stream).
    func cancel() {
        self.channel.close(promise: nil)
    }
}

/// The request headers of every call.
enum EtcdRequestHeaders {
    /// `:method POST`, `:scheme https`, `:path`, `:authority`, `content-type
    /// application/grpc`, `te trailers`, `grpc-timeout` from the deadline, and
    /// `hasleader: true`: etcd then refuses the call at once with "no leader"
    /// on a member cut off from its leader, instead of waiting for a raft
    /// that cannot commit (clientv3's `WithRequireLeader`). That is how a
    /// minority member sends the client to the next endpoint within the deadline.
    static func make(path: String, authority: String, deadline: NIODeadline?) -> HPACKHeaders {
        var headers = HPACKHeaders([
            (":method", "POST"),
            (":scheme", "https"),
            (":path", path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ])
        if let deadline {
            headers.add(name: "grpc-timeout", value: GRPCTimeout.headerValue(deadline - .now()))
        }
        headers.add(name: "hasleader", value: "true")
        headers.add(name: "user-agent", value: "gatehouse-etcd")
        return headers
    }
}
