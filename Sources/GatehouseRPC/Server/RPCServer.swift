#if canImport(Glibc)
import Glibc
#endif
import GatehouseTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The server could not start listening.
public struct ListenError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A listening mTLS server speaking the Gatehouse wire protocol.
///
/// It knows methods only as a router of payload handlers: the domain lives
/// above it. `start()` binds, `drain()` shuts down gracefully (GOAWAY, let
/// calls finish, then close).
public final class RPCServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port; read it back from `start()`'s result.
        public var port: Int
        public var tls: TLSContext
        public var limits: RPCServerLimits
        public var router: RPCRouter

        public init(host: String, port: Int, tls: TLSContext, limits: RPCServerLimits = RPCServerLimits(), router: RPCRouter) {
            self.host = host
            self.port = port
            self.tls = tls
            self.limits = limits
            self.router = router
        }
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var draining = false
    }

    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    public init(configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Connections open right now.
    public var connectionCount: Int {
        self.state.withLockedValue { $0.connections.count }
    }

    /// Binds and starts accepting; returns the bound address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let channel: any Channel
        do {
            channel = try await self.bind()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ListenError("cannot listen on \(self.configuration.host):\(self.configuration.port): the address is already in use (is another server running there?)")
        } catch {
            throw ListenError("cannot listen on \(self.configuration.host):\(self.configuration.port): \(error)")
        }
        self.state.withLockedValue { $0.serverChannel = channel }
        guard let address = channel.localAddress else {
            throw RPCError(.internal, "the listening socket has no local address")
        }
        self.logger.info("listening", metadata: ["address": "\(address.hostPort)"])
        return address
    }

    private func bind() async throws -> any Channel {
        try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            // Most connections idle between small frames (a subscriber's acks), and NIO keeps each
            // one's receive buffer between reads: start small and grow only for bulk reads.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
            .childChannelInitializer { [self] channel in
                self.initializeConnection(channel)
            }
            .bind(host: self.configuration.host, port: self.configuration.port)
            .get()
    }

    private func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        let admitted: Bool = self.state.withLockedValue { state in
            guard !state.draining, state.connections.count < self.configuration.limits.maxConnections else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            self.logger.warning(
                "connection refused: limit reached or draining",
                metadata: ["peer.address": "\(channel.remoteAddress?.hostPort ?? "-")", "limit": "\(self.configuration.limits.maxConnections)"]
            )
            return channel.close()
        }
        channel.closeFuture.whenComplete { [state] _ in
            _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        let limits = self.configuration.limits
        let router = self.configuration.router
        let tls = self.configuration.tls
        let logger = self.logger
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(
                TLSHandler(context: tls, logger: logger),
                // Parses and encodes frames itself: see its documentation.
                RPCServerConnectionHandler(router: router, limits: limits, logger: logger)
            )
        }
    }

    /// Graceful shutdown: stop accepting, send GOAWAY on every connection,
    /// let unary calls finish (streams end with UNAVAILABLE), and after the
    /// grace period close whatever is left.
    public func drain() async {
        let (serverChannel, connections) = self.state.withLockedValue { state in
            state.draining = true
            return (state.serverChannel, Array(state.connections.values))
        }
        self.logger.info("draining", metadata: ["connections": "\(connections.count)"])
        try? await serverChannel?.close()
        for connection in connections {
            connection.eventLoop.execute {
                connection.pipeline.fireUserInboundEventTriggered(RPCServerDrainEvent())
            }
        }
        let deadline = ContinuousClock.now + .nanoseconds(self.configuration.limits.shutdownGracePeriod.nanoseconds)
        for connection in connections {
            let closed = connection.closeFuture
            let remaining = deadline - ContinuousClock.now
            if remaining > .zero {
                _ = try? await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await closed.get() }
                    group.addTask { try await Task.sleep(for: remaining) }
                    try await group.next()
                    group.cancelAll()
                }
            }
            try? await connection.close()
        }
        self.logger.info("drained")
    }

    /// Closes everything at once, without GOAWAY.
    public func close() async {
        let (serverChannel, connections) = self.state.withLockedValue { state in
            state.draining = true
            return (state.serverChannel, Array(state.connections.values))
        }
        try? await serverChannel?.close()
        for connection in connections { try? await connection.close() }
    }
}
