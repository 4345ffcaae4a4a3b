import NIOCore
import SwiftProtobuf

extension RPCClientConnection {
    /// A unary call on protobuf messages.
    public func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ request: Request,
        as _: Response.Type = Response.self,
        timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> Response {
        let payload = try await self.unary(path, request: try ProtobufCoding.encode(request), timeout: timeout, metadata: metadata)
        return try Self.decodeResponse(Response.self, payload)
    }

    /// A server-streaming call on protobuf messages.
    public func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ request: Request,
        as _: Response.Type = Response.self,
        endStream: Bool = true,
        timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> RPCResponseMessages<Response> {
        let stream = try await self.call(path, request: try ProtobufCoding.encode(request), endStream: endStream, timeout: timeout, metadata: metadata)
        return RPCResponseMessages(base: stream)
    }

    static func decodeResponse<T: SwiftProtobuf.Message>(_: T.Type, _ payload: ByteBuffer) throws(RPCError) -> T {
        do {
            return try T(serializedBytes: Array(payload.readableBytesView))
        } catch {
            throw RPCError(.internal, "the server's response is not a valid \(T.protoMessageName): \(error)")
        }
    }
}

/// A call's responses decoded as one protobuf message type.
public struct RPCResponseMessages<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
    public typealias Element = Message

    public let base: RPCResponseStream

    /// Sends a client message on the open stream.
    public func send<ClientMessage: SwiftProtobuf.Message>(_ message: ClientMessage, endStream: Bool = false) async throws {
        try await self.base.send(try ProtobufCoding.encode(message), endStream: endStream)
    }

    public func cancel() {
        self.base.cancel()
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: RPCResponseStream.AsyncIterator

        public mutating func next() async throws -> Message? {
            guard let payload = try await self.base.next() else { return nil }
            return try RPCClientConnection.decodeResponse(Message.self, payload)
        }
    }
}
