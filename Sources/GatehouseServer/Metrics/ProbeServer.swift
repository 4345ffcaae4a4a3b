#if canImport(Glibc)
import Glibc
#endif
import GatehouseRPC
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The operations listener: plain HTTP/1.1 for Prometheus and Kubernetes
/// probes, on its own address, apart from the mutual-TLS RPC port.
///
/// Apart because a scraper and a kubelet have no client certificate, and
/// because what they read (counts, readiness) is safe to show to whoever can
/// reach the address: loopback by default. Requests are small and bounded
/// (``ProbeHTTPHandler``); connections are not counted against the RPC limits.
final class ProbeServer: Sendable {
    /// Headers of a probe request, all of them together; the decoder refuses more with 400.
    static let maxHeaderBytes = 8192

    private let host: String
    private let port: Int
    private let routes: ProbeRoutes
    private let group: any EventLoopGroup
    private let logger: Logger
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    init(host: String, port: Int, routes: ProbeRoutes, group: any EventLoopGroup, logger: Logger) {
        self.host = host
        self.port = port
        self.routes = routes
        self.group = group
        self.logger = logger
    }

    /// Binds and starts answering; returns the bound address (port 0 picks one).
    func start() async throws -> SocketAddress {
        let routes = self.routes
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 32)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel.pipeline.syncOperations, routes: routes)
                    }
                }
                .bind(host: self.host, port: self.port)
                .get()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ListenError("cannot listen for metrics on \(self.host):\(self.port): the address is already in use; pass another --metrics-address")
        } catch {
            throw ListenError("cannot listen for metrics on \(self.host):\(self.port): \(error)")
        }
        self.channel.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else {
            throw ListenError("the metrics listener has no local address")
        }
        self.logger.info("metrics and probes listening", metadata: ["address": "\(address.hostPort)", "paths": "/metrics /healthz /readyz"])
        return address
    }

    /// The pipeline of one connection: HTTP/1.1 with bounded headers, answers in order, 400 on garbage.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, routes: ProbeRoutes) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = Self.maxHeaderBytes
        limits.maxHeaderListSize = Self.maxHeaderBytes
        limits.maxHeaderFieldCount = 64
        try pipeline.addHandler(HTTPResponseEncoder())
        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        try pipeline.addHandler(HTTPServerPipelineHandler())
        try pipeline.addHandler(HTTPServerProtocolErrorHandler())
        try pipeline.addHandler(ProbeHTTPHandler(routes: routes))
    }

    /// Stops listening; connections still open close with their peers.
    func close() async {
        let channel = self.channel.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
    }
}
