import NIOCore

/// Sends a streaming call's responses, one MESSAGE frame each.
///
/// `write` returns once the frame has been handed to the socket, so a
/// method that streams faster than its client reads is slowed down rather
/// than buffering without bound. It throws `RPCError` (CANCELLED) once the
/// call has ended: cancelled, past its deadline, or the connection gone.
public struct RPCResponseWriter: Sendable {
    let send: @Sendable (ByteBuffer) async throws -> Void

    public init(send: @escaping @Sendable (ByteBuffer) async throws -> Void) {
        self.send = send
    }

    public func write(_ message: ByteBuffer) async throws {
        try await self.send(message)
    }
}
