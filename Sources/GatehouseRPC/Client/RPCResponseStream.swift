import NIOCore

/// The responses of one call, as they arrive.
///
/// The sequence ends normally when the server's TRAILERS say OK and throws
/// `RPCError` otherwise. Dropping the iterator, or cancelling the task that
/// iterates, cancels the call on the server.
public struct RPCResponseStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let base: AsyncThrowingStream<ByteBuffer, any Error>
    let streamID: StreamID
    let connection: RPCClientConnection

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator())
    }

    /// Sends a client message on the open stream (for methods that take them).
    public func send(_ message: ByteBuffer, endStream: Bool = false) async throws {
        try await self.connection.send(message, endStream: endStream, on: self.streamID)
    }

    /// Ends the call from the client side.
    public func cancel() {
        self.connection.cancel(self.streamID)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator

        public mutating func next() async throws -> ByteBuffer? {
            guard let message = try await self.base.next() else {
                if Task.isCancelled { throw RPCError(.cancelled, "the call was cancelled") }
                return nil
            }
            return message
        }
    }
}
