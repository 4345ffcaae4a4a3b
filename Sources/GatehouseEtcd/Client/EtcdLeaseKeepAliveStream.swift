import EtcdProto
import NIOCore
import Synchronization

/// The one LeaseKeepAlive stream a client keeps open: each keepalive sends
/// the lease id on it and waits for etcd's answer for that id.
///
/// etcd answers keepalives of one stream in order, so answers are matched to
/// waiters per lease id, first come first served. When the stream breaks,
/// every waiter fails `.unavailable` and the client opens a new stream on the next keepalive.
final class EtcdLeaseKeepAliveStream: Sendable {
    static let path = "/etcdserverpb.Lease/LeaseKeepAlive"

    private struct Waiter {
        let token: UInt64
        let leaseID: Int64
        let continuation: CheckedContinuation<Int64, any Error>
    }

    private struct State {
        var waiters: [Waiter] = []
        var nextToken: UInt64 = 0
        /// Why the stream ended; no more keepalives go on it.
        var ended: EtcdError?
    }

    let connection: EtcdConnection
    private let call: EtcdCallStream
    private let state = Mutex(State())

    private init(connection: EtcdConnection, call: EtcdCallStream) {
        self.connection = connection
        self.call = call
    }

    /// Opens the stream on `connection` and starts reading its answers.
    static func open(on connection: EtcdConnection) async throws(EtcdError) -> EtcdLeaseKeepAliveStream {
        let call = try await connection.openCall(path: Self.path, firstMessage: nil, endStream: false, deadline: nil)
        let stream = EtcdLeaseKeepAliveStream(connection: connection, call: call)
        Task { await stream.readAnswers() }
        return stream
    }

    /// Whether keepalives can still go on this stream.
    var isOpen: Bool {
        self.state.withLock { $0.ended == nil } && self.connection.acceptsCalls
    }

    /// Sends one keepalive of `leaseID` and waits for its answer until `deadline`.
    ///
    /// - Returns: the lease's new TTL in seconds; 0 or less when it has expired.
    func keepAlive(_ leaseID: Int64, deadline: NIODeadline) async throws -> Int64 {
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = leaseID
        let payload = ByteBuffer(bytes: try request.serializedBytes() as [UInt8])
        let token = self.state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        let endpoint = self.connection.endpoint.description
        let timer = self.call.channel.eventLoop.scheduleTask(deadline: deadline) { [self] in
            self.fail(token, EtcdError(.deadlineExceeded, "no answer to a lease keepalive within the call timeout", endpoint: endpoint))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let refused: EtcdError? = self.state.withLock { state in
                    if let ended = state.ended { return ended }
                    state.waiters.append(Waiter(token: token, leaseID: leaseID, continuation: continuation))
                    return nil
                }
                if let refused {
                    continuation.resume(throwing: refused)
                } else {
                    self.call.send(payload, endStream: false)
                }
            }
        } onCancel: {
            self.fail(token, CancellationError())
        }
    }

    /// Ends the stream (the client moved to another member or closed).
    func cancel() {
        self.call.cancel()
    }

    private func fail(_ token: UInt64, _ error: any Error) {
        let waiter: Waiter? = self.state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private func readAnswers() async {
        let endpoint = self.connection.endpoint.description
        var ending = EtcdError(.unavailable, "etcd ended the lease keepalive stream", endpoint: endpoint)
        do {
            for try await bytes in self.call.responses {
                guard let answer = try? Etcdserverpb_LeaseKeepAliveResponse(serializedBytes: Array(bytes.readableBytesView)) else {
                    ending = EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "cannot decode a lease keepalive answer", endpoint: endpoint)
                    self.call.cancel()
                    break
                }
                let waiter: Waiter? = self.state.withLock { state in
                    guard let index = state.waiters.firstIndex(where: { $0.leaseID == answer.id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                waiter?.continuation.resume(returning: answer.ttl)
            }
        } catch let error as EtcdError {
            // Keepalives are safe to repeat: what was lost is sent again elsewhere.
            ending = EtcdError(error.code, error.message, endpoint: error.endpoint, mayHaveApplied: false)
        } catch {
            ending = EtcdError(.unavailable, "the lease keepalive stream failed: \(error)", endpoint: endpoint)
        }
        let waiters = self.state.withLock { state in
            state.ended = ending
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: ending)
        }
    }
}

extension EtcdClient {
    /// One keepalive on the shared stream, reopened (on the next endpoint if
    /// need be) when it broke; retried within the call's deadline, as a keepalive is safe to repeat.
    public func leaseKeepAlive(id: Int64) async throws -> Int64 {
        let deadline = NIODeadline.now() + self.configuration.callTimeout
        return try await self.withFailover(EtcdLeaseKeepAliveStream.path, deadline: deadline, retry: .safeToRepeat) { connection throws(EtcdError) in
            let stream = try await self.keepAliveStream(on: connection)
            do {
                return try await stream.keepAlive(id, deadline: deadline)
            } catch let error as EtcdError {
                throw error
            } catch {
                throw EtcdError(.unavailable, "lease keepalive failed: \(error)", endpoint: connection.endpoint.description)
            }
        }
    }

    /// The shared stream on `connection`, opened if there is none (or it broke).
    private func keepAliveStream(on connection: EtcdConnection) async throws(EtcdError) -> EtcdLeaseKeepAliveStream {
        if let existing = self.state.withLock({ state in
            state.keepAlive.flatMap { $0.connection === connection && $0.isOpen ? $0 : nil }
        }) {
            return existing
        }
        let opened = try await EtcdLeaseKeepAliveStream.open(on: connection)
        let (chosen, replaced) = self.state.withLock { state -> (EtcdLeaseKeepAliveStream, EtcdLeaseKeepAliveStream?) in
            if let current = state.keepAlive, current.connection === connection, current.isOpen {
                return (current, opened)  // another caller opened one first: use theirs
            }
            let old = state.keepAlive
            state.keepAlive = opened
            return (opened, old)
        }
        replaced?.cancel()
        return chosen
    }
}
