import EtcdProto
import NIOCore

extension EtcdClient {
    static let watchPath = "/etcdserverpb.Watch/Watch"

    /// One watch on its own Watch stream; see ``EtcdKV/watch(_:)``.
    ///
    /// Progress notifications are always asked for (`progress_notify`), so a
    /// quiet range still tells the watcher how far etcd has got, and
    /// fragmenting is never asked for, so each response is whole revisions.
    /// etcd's creation acknowledgement is not passed on: its header revision
    /// is the store's current one, not how far this watch has delivered, and
    /// a consumer taking it as progress would skip the events still to come.
    /// Opening is bounded by the call timeout (failing over like a read); once
    /// open, the watch runs until it breaks or the consumer stops iterating.
    public func watch(_ request: Etcdserverpb_WatchCreateRequest) -> AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error> {
        var create = request
        create.progressNotify = true
        create.fragment = false
        var message = Etcdserverpb_WatchRequest()
        message.createRequest = create
        let (stream, continuation) = AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>.makeStream()
        let task = Task { [self] in
            do {
                try await self.runWatch(message, continuation: continuation)
            } catch {
                // A watch ended by close() says so, so its consumer does not watch again.
                let closed = self.state.withLock { $0.isClosed }
                continuation.finish(throwing: closed ? EtcdError(.closed, "the etcd client was closed") : error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runWatch(
        _ message: Etcdserverpb_WatchRequest,
        continuation: AsyncThrowingStream<Etcdserverpb_WatchResponse, any Error>.Continuation
    ) async throws {
        let payload = ByteBuffer(bytes: try message.serializedBytes() as [UInt8])
        let deadline = NIODeadline.now() + self.configuration.callTimeout
        let (call, endpoint) = try await self.withFailover(Self.watchPath, deadline: deadline, retry: .safeToRepeat) { connection throws(EtcdError) in
            let call = try await connection.openCall(path: Self.watchPath, firstMessage: payload, endStream: false, deadline: nil)
            return (call, connection.endpoint.description)
        }
        try await withTaskCancellationHandler {
            for try await bytes in call.responses {
                let response: Etcdserverpb_WatchResponse
                do {
                    response = try Etcdserverpb_WatchResponse(serializedBytes: Array(bytes.readableBytesView))
                } catch {
                    call.cancel()
                    throw EtcdError(.rejected(grpcStatus: GRPCStatus.internal), "cannot decode a watch response: \(error)", endpoint: endpoint)
                }
                if response.canceled {
                    call.cancel()
                    if response.compactRevision > 0 {
                        throw EtcdError(.compacted(revision: response.compactRevision), "the watch's start revision was compacted", endpoint: endpoint)
                    }
                    let reason = response.cancelReason.isEmpty ? "etcd cancelled the watch" : response.cancelReason
                    throw EtcdError(.unavailable, reason, endpoint: endpoint)
                }
                if response.created { continue }
                continuation.yield(response)
            }
            if Task.isCancelled { return continuation.finish() }
            throw EtcdError(.unavailable, "etcd ended the watch stream", endpoint: endpoint)
        } onCancel: {
            call.cancel()
        }
        continuation.finish()
    }
}
