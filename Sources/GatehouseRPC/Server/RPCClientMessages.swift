import NIOCore

/// The messages a client sends after its request on an open stream, e.g.
/// a subscriber's acks. Ends when the client half-closes or the call ends.
public struct RPCClientMessages: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let stream: AsyncThrowingStream<ByteBuffer, any Error>

    /// How many unread client messages a call may hold before it is failed
    /// with RESOURCE_EXHAUSTED: a client cannot grow server memory at will.
    static let bufferLimit = 1024

    static func makeStream() -> (RPCClientMessages, AsyncThrowingStream<ByteBuffer, any Error>.Continuation) {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream(bufferingPolicy: .bufferingOldest(Self.bufferLimit))
        return (RPCClientMessages(stream: stream), continuation)
    }

    /// An empty sequence, for methods that take no client messages.
    static let none: RPCClientMessages = {
        let (messages, continuation) = Self.makeStream()
        continuation.finish()
        return messages
    }()

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator

        public mutating func next() async throws -> ByteBuffer? {
            try await self.base.next()
        }
    }
}
