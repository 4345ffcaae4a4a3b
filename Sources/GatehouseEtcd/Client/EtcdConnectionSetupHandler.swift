import GatehouseTLS
import NIOCore
import NIOHTTP2

/// Sits above the TLS handler while a connection to an etcd member is set
/// up: once the handshake completes it checks that the member agreed to
/// HTTP/2 (ALPN `h2`), then adds the HTTP/2 handler and multiplexer above
/// itself and reports the multiplexer. Any failure before that (refused,
/// TLS failure, no `h2`, closed) fails the setup with a message naming the
/// endpoint and the likely fix. Afterwards it watches for GOAWAY, so the
/// client stops opening calls on a connection etcd is draining.
final class EtcdConnectionSetupHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let endpoint: EtcdEndpoint
    private let ready: EventLoopPromise<NIOHTTP2Handler.StreamMultiplexer>
    private let health: EtcdConnectionHealth
    private var isSetUp = false

    init(endpoint: EtcdEndpoint, ready: EventLoopPromise<NIOHTTP2Handler.StreamMultiplexer>, health: EtcdConnectionHealth) {
        self.endpoint = endpoint
        self.ready = ready
        self.health = health
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSEvent.handshakeCompleted(let result) = event, !self.isSetUp {
            self.handshakeCompleted(context: context, result)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func handshakeCompleted(context: ChannelHandlerContext, _ result: TLSHandshakeResult) {
        guard result.negotiatedProtocol == EtcdClientConfiguration.applicationProtocol else {
            let negotiated = result.negotiatedProtocol.map { "\"\($0)\"" } ?? "none"
            self.fail(context: context, EtcdError(
                .unavailable,
                "\(self.endpoint) did not agree to HTTP/2 in the TLS handshake (ALPN h2 required, negotiated: \(negotiated)); "
                    + "etcd's gRPC client port always does: is this URL an etcd client URL (--listen-client-urls), not a proxy or another service?",
                endpoint: self.endpoint.description
            ))
            return
        }
        do {
            var connection = NIOHTTP2Handler.ConnectionConfiguration()
            connection.initialSettings = [
                HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
                HTTP2Setting(parameter: .maxHeaderListSize, value: 65_536),
                HTTP2Setting(parameter: .initialWindowSize, value: Self.windowSize),
            ]
            var stream = NIOHTTP2Handler.StreamConfiguration()
            stream.targetWindowSize = Self.windowSize
            let multiplexer = try context.pipeline.syncOperations.configureHTTP2Pipeline(
                mode: .client,
                connectionConfiguration: connection,
                streamConfiguration: stream,
                position: .last
            ) { channel in
                // etcd never opens streams towards a client (no server push): refuse any.
                channel.close()
            }
            try context.pipeline.syncOperations.addHandler(EtcdConnectionMonitor(health: self.health), position: .last)
            self.isSetUp = true
            self.ready.succeed(multiplexer)
        } catch {
            self.fail(context: context, EtcdError(.unavailable, "cannot set up HTTP/2 to \(self.endpoint): \(error)", endpoint: self.endpoint.description))
        }
    }

    /// Responses can be large (a Range of every record): a 1 MiB window keeps
    /// them from stalling on window updates every 64 KiB.
    static let windowSize = 1 << 20

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !self.isSetUp {
            self.fail(context: context, Self.explain(error, endpoint: self.endpoint))
        } else if error is TLSError {
            // In TLS 1.3 etcd refuses our certificate only after our handshake
            // completed: the calls already sent learn why from here.
            self.health.failureReason = Self.explain(error, endpoint: self.endpoint).message
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.health.markClosed()
        if !self.isSetUp {
            self.fail(context: context, EtcdError(.unavailable, "\(self.endpoint) closed the connection during the TLS handshake", endpoint: self.endpoint.description))
        }
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: EtcdError) {
        self.isSetUp = true  // report only the first failure
        self.ready.fail(error)
        context.close(promise: nil)
    }

    /// A failure during setup, in words that say what to check.
    static func explain(_ error: any Error, endpoint: EtcdEndpoint) -> EtcdError {
        let text: String
        if let tls = error as? TLSError {
            switch tls.kind {
            case .certificateVerificationFailed:
                text = "TLS with \(endpoint) failed: \(tls). Check that --etcd-ca is the CA that signed the member's server certificate and that the certificate names \(endpoint.host)"
            case .handshakeFailed, .io:
                text = "TLS with \(endpoint) failed: \(tls). If etcd refused our certificate, check --etcd-cert/--etcd-key against etcd's --trusted-ca-file"
            case .handshakeTimeout:
                text = "TLS with \(endpoint) did not complete in time (the member is overloaded, stopped or not etcd)"
            case .unexpectedClose:
                text = "\(endpoint) closed the connection during the TLS handshake: \(tls)"
            case .configuration, .certificateIssuance:
                text = "TLS with \(endpoint): \(tls)"
            }
        } else {
            text = "cannot connect to \(endpoint): \(error)"
        }
        return EtcdError(.unavailable, text, endpoint: endpoint.description)
    }
}

@available(*, unavailable)
extension EtcdConnectionSetupHandler: Sendable {}

