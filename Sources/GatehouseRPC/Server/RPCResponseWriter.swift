import NIOCore

/// Sends a streaming call's responses, one MESSAGE frame each.
///
/// `write` returns once the frame has been handed to the socket, so a
/// method that streams faster than its client reads is slowed down rather
/// than buffering without bound. It throws `RPCError` (CANCELLED) once the
/// call has ended: cancelled, past its deadline, or the connection gone.
public struct RPCResponseWriter: Sendable {
    let send: @Sendable (ByteBuffer) async throws -> Void
    /// Writing from the connection's own event loop, without a task or a thread hop.
    public let onLoop: OnLoop?

    /// The connection's event loop and a write to call on it.
    ///
    /// For servers that push the same message to thousands of calls: one
    /// `execute` per event loop delivers to all of them, where `write(_:)`
    /// would wake one task and hop threads twice per call. The future
    /// completes once the frame is handed to the socket, or fails (CANCELLED)
    /// once the call has ended.
    public struct OnLoop: Sendable {
        public let eventLoop: any EventLoop
        let write: @Sendable (ByteBuffer) -> EventLoopFuture<Void>

        public init(eventLoop: any EventLoop, write: @escaping @Sendable (ByteBuffer) -> EventLoopFuture<Void>) {
            self.eventLoop = eventLoop
            self.write = write
        }

        /// Must be called on `eventLoop`.
        public func write(_ message: ByteBuffer) -> EventLoopFuture<Void> {
            self.eventLoop.preconditionInEventLoop()
            return self.write(message)
        }
    }

    public init(send: @escaping @Sendable (ByteBuffer) async throws -> Void, onLoop: OnLoop? = nil) {
        self.send = send
        self.onLoop = onLoop
    }

    public func write(_ message: ByteBuffer) async throws {
        try await self.send(message)
    }
}
