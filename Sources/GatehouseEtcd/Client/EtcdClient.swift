import EtcdProto
import GatehouseTLS
import Logging
import NIOCore
import NIOPosix
import SwiftProtobuf
import Synchronization

/// etcd's v3 API over gRPC: HTTP/2 (swift-nio-http2) on Gatehouse's own
/// OpenSSL TLS handler, with a client certificate, to one member at a time.
///
/// **Endpoints and failover.** The client keeps one connection, to one
/// member. A connection that cannot be made (refused, TLS failure, no `h2`,
/// no answer within the connect timeout) or a member that answers
/// UNAVAILABLE (etcd's "no leader" for a member cut off in a minority,
/// "request timed out", shutting down) sends the client to the next
/// endpoint, round robin. Every call carries `hasleader: true`, so a
/// minority member refuses at once rather than waiting on a raft that
/// cannot commit.
///
/// **Deadlines and retries.** Each call has ``EtcdClientConfiguration/callTimeout``
/// in all, sent as `grpc-timeout` and enforced here. Within it a call is
/// retried on the next endpoint only when that cannot apply it twice: it was
/// never sent, or it is a read or a keepalive. A write whose answer was lost
/// after it was sent fails with ``EtcdError/mayHaveApplied`` set, for the
/// caller to check. When no member can serve, the call fails `.unavailable`
/// (or `.deadlineExceeded` if a sent request went unanswered) by its
/// deadline, never later.
///
/// Watches are one stream each and end with an error the caller answers by
/// watching again; keepalives share one LeaseKeepAlive stream.
public final class EtcdClient: EtcdKV {
    public let configuration: EtcdClientConfiguration
    let tls: TLSContext
    let group: any EventLoopGroup
    let logger: Logger
    let state = Mutex(State())

    /// The connection and the attempt to make one, behind the lock.
    struct State {
        var connection: EtcdConnection?
        /// A connection attempt under way; concurrent callers share it.
        var connecting: Task<EtcdConnection, any Error>?
        /// The endpoint the next attempt goes to.
        var nextEndpoint = 0
        /// The shared LeaseKeepAlive stream, on ``connection``.
        var keepAlive: EtcdLeaseKeepAliveStream?
        /// The last reason each endpoint could not be reached, so a repeated one is logged once.
        var lastConnectFailure: [Int: String] = [:]
        var isClosed = false
    }

    /// Below this much time left, a call gives up rather than start a connection attempt.
    static let shortestConnectAttempt = TimeAmount.milliseconds(20)

    /// Creates a client; it connects on the first call.
    ///
    /// - Throws: ``TLSError`` `.configuration` naming an unreadable or
    ///   unusable CA, certificate or key file; ``EtcdConfigurationError`` for no endpoints.
    public init(
        configuration: EtcdClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "gatehouse.etcd")
    ) throws {
        guard !configuration.endpoints.isEmpty else {
            throw EtcdConfigurationError("no etcd endpoints given; expected https://host:port,...")
        }
        self.configuration = configuration
        self.tls = try TLSContext.client(configuration.tlsConfiguration)
        self.group = group
        self.logger = logger
    }

    deinit {
        // A client dropped without close(): do not leave its connection open.
        self.state.withLock { state in
            state.connecting?.cancel()
            state.connection?.close()
        }
    }

    /// Closes the connection; calls in flight and later calls fail `.closed`, watches end.
    public func close() async {
        let (connection, connecting) = self.state.withLock { state in
            state.isClosed = true
            defer {
                state.connection = nil
                state.connecting = nil
                state.keepAlive = nil
            }
            return (state.connection, state.connecting)
        }
        connecting?.cancel()
        connection?.close()
        if let connected = try? await connecting?.value {
            connected.close()
        }
    }

    // MARK: - KV

    public func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await self.unary("/etcdserverpb.KV/Range", request, retry: .safeToRepeat)
    }

    public func put(_ request: Etcdserverpb_PutRequest) async throws -> Etcdserverpb_PutResponse {
        try await self.unary("/etcdserverpb.KV/Put", request, retry: .onlyIfUnsent)
    }

    public func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await self.unary("/etcdserverpb.KV/DeleteRange", request, retry: .onlyIfUnsent)
    }

    public func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await self.unary("/etcdserverpb.KV/Txn", request, retry: .onlyIfUnsent)
    }

    // MARK: - Lease

    public func leaseGrant(ttl seconds: Int64) async throws -> Etcdserverpb_LeaseGrantResponse {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = seconds
        return try await self.unary("/etcdserverpb.Lease/LeaseGrant", request, retry: .onlyIfUnsent)
    }

    public func leaseRevoke(id: Int64) async throws {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = id
        let _: Etcdserverpb_LeaseRevokeResponse = try await self.unary("/etcdserverpb.Lease/LeaseRevoke", request, retry: .onlyIfUnsent)
    }

    // MARK: - Maintenance

    public func status() async throws -> Etcdserverpb_StatusResponse {
        try await self.unary("/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest(), retry: .safeToRepeat)
    }

    /// The endpoint the client is connected to now, if any (for logs and tests).
    public var connectedEndpoint: EtcdEndpoint? {
        self.state.withLock { $0.connection?.endpoint }
    }

    // MARK: - Calls

    /// When a failed call may be sent again, to the next endpoint.
    enum RetryPolicy {
        /// Reads and keepalives: repeating them changes nothing.
        case safeToRepeat
        /// Writes: only when etcd cannot have received them.
        case onlyIfUnsent
    }

    /// One request, one response, failing over within the call's deadline.
    func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ request: Request,
        retry: RetryPolicy
    ) async throws -> Response {
        let deadline = NIODeadline.now() + self.configuration.callTimeout
        let payload: ByteBuffer
        do {
            payload = ByteBuffer(bytes: try request.serializedBytes() as [UInt8])
        } catch {
            throw EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "cannot encode the request for \(path): \(error)")
        }
        let bytes = try await self.withFailover(path, deadline: deadline, retry: retry) { connection throws(EtcdError) in
            try await Self.unary(on: connection, path: path, payload: payload, deadline: deadline)
        }
        do {
            return try Response(serializedBytes: Array(bytes.readableBytesView))
        } catch {
            throw EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "cannot decode etcd's answer to \(path): \(error)")
        }
    }

    /// Runs `body` on a connection, moving to the next endpoint and trying
    /// again while the failure allows it and the deadline has not passed.
    func withFailover<T: Sendable>(
        _ path: String,
        deadline: NIODeadline,
        retry: RetryPolicy,
        _ body: (EtcdConnection) async throws(EtcdError) -> T
    ) async throws -> T {
        var failures: [EtcdError] = []
        while true {
            try Task.checkCancellation()
            var connection: EtcdConnection?
            do throws(EtcdError) {
                let chosen = try await self.connection(before: deadline, failures: failures)
                connection = chosen
                return try await body(chosen)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if case .closed = error.code { throw error }
                if let connection {
                    if error.movesToNextEndpoint {
                        self.abandon(connection, because: error)
                    } else if case .deadlineExceeded = error.code {
                        self.suspect(connection, after: error)
                    }
                }
                let repeatable: Bool
                switch retry {
                case .safeToRepeat: repeatable = true
                case .onlyIfUnsent: repeatable = !error.mayHaveApplied
                }
                guard error.movesToNextEndpoint, repeatable, NIODeadline.now() < deadline else {
                    throw error
                }
                failures.append(error)
                // A whole round failed: pause a little before the next, within the deadline.
                if failures.count % self.configuration.endpoints.count == 0 {
                    let round = failures.count / self.configuration.endpoints.count
                    let pause = min(TimeAmount.milliseconds(Int64(50 * round)), .milliseconds(500), deadline - .now())
                    if pause > .zero {
                        try await Task.sleep(nanoseconds: UInt64(pause.nanoseconds))
                    }
                }
            }
        }
    }

    /// A unary call on `connection`: exactly one response message, then OK.
    static func unary(on connection: EtcdConnection, path: String, payload: ByteBuffer, deadline: NIODeadline) async throws(EtcdError) -> ByteBuffer {
        let call = try await connection.openCall(path: path, firstMessage: payload, endStream: true, deadline: deadline)
        do {
            return try await withTaskCancellationHandler {
                var response: ByteBuffer?
                for try await message in call.responses {
                    guard response == nil else {
                        call.cancel()
                        throw EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "etcd sent more than one response to unary \(path)", endpoint: connection.endpoint.description)
                    }
                    response = message
                }
                guard let response else {
                    throw EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "etcd ended \(path) with OK but no response", endpoint: connection.endpoint.description)
                }
                return response
            } onCancel: {
                call.cancel()
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError(.unavailable, "\(path) failed: \(error)", endpoint: connection.endpoint.description, mayHaveApplied: true)
        }
    }

    // MARK: - Connection

    /// The current connection, or a new one to the next endpoint; waits no longer than `deadline`.
    ///
    /// - Parameter failures: what failed so far in this call, for the message when time runs out.
    func connection(before deadline: NIODeadline, failures: [EtcdError]) async throws(EtcdError) -> EtcdConnection {
        enum Next {
            case use(EtcdConnection)
            case wait(Task<EtcdConnection, any Error>)
            case outOfTime
            case closed
        }
        let next: Next = self.state.withLock { state in
            if state.isClosed { return .closed }
            if let connection = state.connection {
                if connection.acceptsCalls { return .use(connection) }
                // Closed or draining (GOAWAY): move on.
                state.connection = nil
                state.keepAlive = nil
                state.nextEndpoint = (connection.endpointIndex + 1) % self.configuration.endpoints.count
                connection.close()
            }
            if let connecting = state.connecting { return .wait(connecting) }
            let remaining = deadline - .now()
            // Too little time left for a handshake: do not spend an endpoint's turn on a sure timeout.
            guard remaining >= Self.shortestConnectAttempt else { return .outOfTime }
            let index = state.nextEndpoint
            let timeout = min(self.configuration.connectTimeout, remaining)
            let task = Task { [self] in
                let endpoint = self.configuration.endpoints[index]
                do {
                    let connection = try await EtcdConnection.connect(
                        to: endpoint, index: index, tls: self.tls, timeout: timeout, group: self.group, logger: self.logger
                    )
                    let kept = self.state.withLock { state in
                        state.connecting = nil
                        guard !state.isClosed else { return false }
                        state.connection = connection
                        return true
                    }
                    if !kept {
                        connection.close()
                        throw EtcdError(.closed, "the etcd client was closed while connecting")
                    }
                    self.state.withLock { $0.lastConnectFailure[index] = nil }
                    self.logger.debug("connected to etcd", metadata: ["etcd.endpoint": "\(endpoint)"])
                    return connection
                } catch {
                    let repeated = self.state.withLock { state in
                        state.connecting = nil
                        state.nextEndpoint = (index + 1) % self.configuration.endpoints.count
                        let message = "\(error)"
                        defer { state.lastConnectFailure[index] = message }
                        return state.lastConnectFailure[index] == message
                    }
                    // Once per endpoint and reason: a misconfigured CA would otherwise log every retry.
                    self.logger.log(
                        level: repeated ? .debug : .warning,
                        "cannot connect to etcd", metadata: ["etcd.endpoint": "\(endpoint)", "error": "\(error)"]
                    )
                    throw error
                }
            }
            state.connecting = task
            return .wait(task)
        }
        switch next {
        case .closed:
            throw EtcdError(.closed, "the etcd client is closed")
        case .outOfTime:
            throw Self.noMemberAnswered(failures: failures, timeout: self.configuration.callTimeout)
        case .use(let connection):
            return connection
        case .wait(let task):
            return try await Self.value(of: task, before: deadline, failures: failures, timeout: self.configuration.callTimeout)
        }
    }

    /// `task`'s connection, or `.unavailable` when `deadline` comes first (the attempt goes on for others).
    private static func value(
        of task: Task<EtcdConnection, any Error>,
        before deadline: NIODeadline,
        failures: [EtcdError],
        timeout: TimeAmount
    ) async throws(EtcdError) -> EtcdConnection {
        do {
            return try await withThrowingTaskGroup(of: EtcdConnection?.self) { group in
                group.addTask { try await task.value }
                group.addTask {
                    let remaining = deadline - .now()
                    if remaining > .zero {
                        try await Task.sleep(nanoseconds: UInt64(remaining.nanoseconds))
                    }
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let connection = first else {
                    throw Self.noMemberAnswered(failures: failures, timeout: timeout)
                }
                return connection
            }
        } catch let error as EtcdError {
            throw error
        } catch is CancellationError {
            throw EtcdError(.unavailable, "cancelled while connecting to etcd")
        } catch {
            throw EtcdError(.unavailable, "cannot connect to etcd: \(error)")
        }
    }

    /// The error when time runs out before any member could take the call.
    static func noMemberAnswered(failures: [EtcdError], timeout: TimeAmount) -> EtcdError {
        var lastPerEndpoint: [String: String] = [:]
        var order: [String] = []
        for failure in failures {
            let endpoint = failure.endpoint ?? "?"
            if lastPerEndpoint[endpoint] == nil { order.append(endpoint) }
            lastPerEndpoint[endpoint] = failure.message
        }
        let detail = order.isEmpty ? "" : ": " + order.map { "\($0): \(lastPerEndpoint[$0]!)" }.joined(separator: "; ")
        return EtcdError(.unavailable, "no etcd member could serve within \(timeout.nanoseconds / 1_000_000) ms\(detail)")
    }

    /// A call on `connection` got no answer in time: a slow cluster, or a
    /// member that hangs. Probe it in the background and abandon it if it does
    /// not answer a PING within the connect timeout, so later calls (and
    /// watches, which the close ends) go to the next endpoint instead of
    /// timing out on a member that will never answer.
    func suspect(_ connection: EtcdConnection, after error: EtcdError) {
        let timeout = self.configuration.connectTimeout
        Task {
            if await !connection.isAlive(timeout: timeout) {
                self.abandon(connection, because: EtcdError(
                    .unavailable, "no answer to an HTTP/2 PING within \(timeout.nanoseconds / 1_000_000) ms after \(error.message)",
                    endpoint: connection.endpoint.description
                ))
            }
        }
    }

    /// Drops `connection` after `error` said its member cannot serve; the next
    /// call connects to the next endpoint. Only the first caller to see it fail acts.
    func abandon(_ connection: EtcdConnection, because error: EtcdError) {
        let dropped = self.state.withLock { state in
            guard state.connection === connection else { return false }
            state.connection = nil
            state.keepAlive = nil
            state.nextEndpoint = (connection.endpointIndex + 1) % self.configuration.endpoints.count
            return true
        }
        if dropped {
            self.logger.warning(
                "etcd member cannot serve; moving to the next endpoint",
                metadata: ["etcd.endpoint": "\(connection.endpoint)", "error": "\(error)"]
            )
            connection.close()
        }
    }
}
