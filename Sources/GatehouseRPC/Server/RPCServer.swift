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

    public init(_ description: String) {
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
        /// Whether a peer may use the connections that ``RPCServerLimits/reservedConnections``
        /// keeps back. The RPC layer knows no roles: the server layer says who must
        /// always get in (its administrators). `nil` reserves nothing.
        public var isPrivileged: (@Sendable (TLSPeerIdentity) -> Bool)?
        /// Counts connections, handshakes and calls; ``RPCServerMetrics/none`` counts nothing.
        public var metrics: RPCServerMetrics

        public init(
            host: String,
            port: Int,
            tls: TLSContext,
            limits: RPCServerLimits = RPCServerLimits(),
            router: RPCRouter,
            isPrivileged: (@Sendable (TLSPeerIdentity) -> Bool)? = nil,
            metrics: RPCServerMetrics = .none
        ) {
            self.host = host
            self.port = port
            self.tls = tls
            self.limits = limits
            self.router = router
            self.isPrivileged = isPrivileged
            self.metrics = metrics
        }
    }

    /// Connections open right now, by stage.
    public struct ConnectionCounts: Hashable, Sendable {
        /// Accepted, TLS handshake not yet complete.
        public var handshaking: Int
        /// Handshake complete and admitted, privileged ones included.
        public var authenticated: Int
        /// Of `authenticated`, those of privileged identities.
        public var privileged: Int
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ConnectionAdmission.ID: any Channel] = [:]
        var nextID: ConnectionAdmission.ID = 0
        var admission: ConnectionAdmission
        var refusalLog = RefusalLogThrottle(interval: RPCServer.refusalLogInterval)
        var draining = false
    }

    /// The shortest time between two log lines about refused connections.
    static let refusalLogInterval: TimeAmount = .seconds(10)

    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    public init(configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        let limits = configuration.limits
        self.state = NIOLockedValueBox(
            State(
                admission: ConnectionAdmission(
                    limits: .init(
                        maxHandshakes: limits.maxHandshakes,
                        maxConnections: limits.maxConnections,
                        reservedConnections: configuration.isPrivileged == nil ? 0 : limits.reservedConnections
                    )
                )
            )
        )
    }

    /// Sockets open right now, in any stage (also those being closed).
    public var connectionCount: Int {
        self.state.withLockedValue { $0.connections.count }
    }

    /// Connections counted against the limits right now, by stage.
    public var connectionCounts: ConnectionCounts {
        self.state.withLockedValue {
            ConnectionCounts(handshaking: $0.admission.handshakingCount, authenticated: $0.admission.authenticatedCount, privileged: $0.admission.privilegedCount)
        }
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
            // One accept per event-loop turn, so a new connection's first read (its ClientHello)
            // is not queued behind a burst of accepts: in a flood of silent sockets, a real client
            // that is still unread counts as silent, and the oldest silent handshake is dropped.
            .serverChannelOption(.maxMessagesPerRead, value: 1)
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

    /// Admits a new connection to the handshake stage (dropping the oldest
    /// pending handshake when they are full) and builds its pipeline; see
    /// ``ConnectionAdmission`` for the policy.
    private func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        enum Accepted {
            case draining
            case admitted(ConnectionAdmission.ID, dropping: (any Channel)?)
        }
        self.configuration.metrics.accepted.increment()
        let accepted: Accepted = self.state.withLockedValue { state in
            guard !state.draining else { return .draining }
            let id = state.nextID
            state.nextID += 1
            state.connections[id] = channel
            switch state.admission.accepted(id) {
            case .admit:
                return .admitted(id, dropping: nil)
            case .admitDropping(let old):
                return .admitted(id, dropping: state.connections[old])
            }
        }
        let id: ConnectionAdmission.ID
        switch accepted {
        case .draining:
            self.refused(.draining, address: channel.remoteAddress, detail: "the server is shutting down")
            return channel.close()
        case .admitted(let admittedID, let dropping):
            id = admittedID
            if let dropping {
                self.refused(
                    .handshakeDropped,
                    address: dropping.remoteAddress,
                    detail: "\(self.configuration.limits.maxHandshakes) TLS handshakes pending; the oldest (silent first) is dropped"
                )
                dropping.close(promise: nil)
            }
        }
        channel.closeFuture.whenComplete { [state] _ in
            state.withLockedValue { state in
                state.connections[id] = nil
                state.admission.closed(id)
            }
        }
        let limits = self.configuration.limits
        let router = self.configuration.router
        let metrics = self.configuration.metrics
        let tls = self.configuration.tls
        let logger = self.logger
        let address = channel.remoteAddress
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(
                RPCServerFirstBytesHandler(spoke: { [state] in state.withLockedValue { $0.admission.spoke(id) } }),
                TLSHandler(context: tls, logger: logger),
                RPCServerAuthenticationGate(
                    authenticated: { [self] peer in self.authenticated(id, peer: peer, address: address) },
                    handshakeFailed: { [self] error in
                        self.configuration.metrics.handshakeFailed(error)
                        self.refused(.handshakeFailed, address: address, detail: "TLS failed: \(error)")
                    }
                ),
                // Parses and encodes frames itself: see its documentation.
                RPCServerConnectionHandler(router: router, limits: limits, logger: logger, metrics: metrics)
            )
        }
    }

    /// The handshake of connection `id` completed: moves it to the authenticated
    /// stage, or returns why it is refused.
    private func authenticated(_ id: ConnectionAdmission.ID, peer: TLSPeerIdentity?, address: SocketAddress?) -> String? {
        self.configuration.metrics.handshakesCompleted.increment()
        let privileged = peer.flatMap { peer in self.configuration.isPrivileged?(peer) } ?? false
        let action = self.state.withLockedValue { $0.admission.authenticated(id, privileged: privileged) }
        switch action {
        case .admit, .unknown:
            return nil  // unknown: already dropped or closed, and closing anyway
        case .refuse(let refusal):
            self.refused(.connectionLimit, address: address, detail: refusal.description, peer: peer)
            return refusal.description
        }
    }

    /// Logs a refused connection, at most one line per ``refusalLogInterval``
    /// with a count of the refusals not logged.
    private func refused(_ reason: RefusalLogThrottle.Reason, address: SocketAddress?, detail: String, peer: TLSPeerIdentity? = nil) {
        self.configuration.metrics.refused(reason)
        let decision = self.state.withLockedValue { $0.refusalLog.refused(reason, now: .now()) }
        switch decision {
        case .log(let suppressed):
            var metadata: Logger.Metadata = [
                "reason": "\(reason.rawValue)",
                "peer.address": "\(address?.hostPort ?? "-")",
                "detail": "\(detail)",
            ]
            if let peer { metadata["peer.cn"] = "\(peer.commonName ?? "-")" }
            if !suppressed.isEmpty {
                metadata["suppressed"] = "\(Self.describe(suppressed))"
            }
            self.logger.warning("connection refused", metadata: metadata)
        case .suppress(let flushAt):
            guard let flushAt else { return }
            self.group.next().scheduleTask(deadline: flushAt) { [self] in
                guard let suppressed = self.state.withLockedValue({ $0.refusalLog.flush(now: .now()) }) else { return }
                self.logger.warning(
                    "connections refused and not logged",
                    metadata: ["suppressed": "\(Self.describe(suppressed))", "interval.s": "\(Self.refusalLogInterval.nanoseconds / 1_000_000_000)"]
                )
            }
        }
    }

    /// `handshake_dropped=12 connection_limit=3`, in a fixed order.
    private static func describe(_ counts: [RefusalLogThrottle.Reason: Int]) -> String {
        RefusalLogThrottle.Reason.allCases.compactMap { reason in counts[reason].map { "\(reason.rawValue)=\($0)" } }.joined(separator: " ")
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
