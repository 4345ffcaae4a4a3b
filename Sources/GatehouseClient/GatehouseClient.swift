import GatehouseProto
import GatehouseRPC
import GatehouseTLS
import Logging
import NIOCore
import NIOPosix

/// The Swift SDK: typed Gatehouse calls over one mutual-TLS connection.
///
/// ```swift
/// let client = try await GatehouseClient.connect(config: ClientConfigLoader.load(explicit: nil))
/// let info = try await client.info()
/// ```
public final class GatehouseClient: Sendable {
    public let connection: RPCClientConnection
    /// Applied to calls that set no timeout of their own.
    public let defaultTimeout: Duration

    init(connection: RPCClientConnection, defaultTimeout: Duration) {
        self.connection = connection
        self.defaultTimeout = defaultTimeout
    }

    /// Connects with a client config (server address, CA, certificate, key).
    ///
    /// - Parameters:
    ///   - maxFrameSize: the largest frame payload this client accepts (its HELLO's
    ///     MAX_FRAME_SIZE); the server fills listing pages up to it.
    ///   - connectTimeout: how long the TCP connection, the TLS handshake and the
    ///     server's HELLO may take together; `defaultTimeout` when nil. A failure is an
    ///     `RPCError` whose ``ConnectionProblem`` says what to fix.
    public static func connect(
        config: ClientConfig,
        defaultTimeout: Duration = .seconds(10),
        connectTimeout: Duration? = nil,
        maxFrameSize: UInt32 = 1_048_576,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gatehouse.client")
    ) async throws -> GatehouseClient {
        let (host, port) = try config.hostAndPort()
        let tls = try TLSContext.client(
            TLSConfiguration(certificateChainPath: config.certificate, privateKeyPath: config.key, trustRootsPath: config.ca)
        )
        let connection = try await RPCClientConnection.connect(
            host: host,
            port: port,
            tls: tls,
            serverHostname: config.serverName ?? host,
            maxFrameSize: maxFrameSize,
            connectTimeout: .nanoseconds(Int64(clamping: Self.nanoseconds(connectTimeout ?? defaultTimeout))),
            group: group,
            logger: logger
        )
        return GatehouseClient(connection: connection, defaultTimeout: defaultTimeout)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// `Server.Info`: version, protocol versions, methods, limits, and who the server thinks we are.
    public func info(timeout: Duration? = nil) async throws -> Gatehouse_V1_InfoResponse {
        try await self.connection.unary("/gatehouse.v1.Server/Info", Gatehouse_V1_InfoRequest(), timeout: timeout ?? self.defaultTimeout)
    }

    /// `Health.Check` for the whole server.
    public func health(timeout: Duration? = nil) async throws -> Gatehouse_V1_HealthCheckResponse.ServingStatus {
        let response: Gatehouse_V1_HealthCheckResponse = try await self.connection.unary(
            "/gatehouse.v1.Health/Check",
            Gatehouse_V1_HealthCheckRequest(),
            timeout: timeout ?? self.defaultTimeout
        )
        return response.status
    }

    /// `Health.Watch`: the serving status now and at every change.
    public func watchHealth() async throws -> RPCResponseMessages<Gatehouse_V1_HealthCheckResponse> {
        try await self.connection.serverStreaming("/gatehouse.v1.Health/Watch", Gatehouse_V1_HealthCheckRequest())
    }

    public func close() async {
        await self.connection.close()
    }
}
