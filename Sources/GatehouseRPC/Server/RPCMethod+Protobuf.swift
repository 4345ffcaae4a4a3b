import NIOCore
import SwiftProtobuf

extension RPCMethod {
    /// A unary method on protobuf messages.
    ///
    /// Inlinable, like the other constructors and ``ProtobufCoding``, so that
    /// the module defining a method specialises the decoding and encoding
    /// for its message types instead of going through generic metadata.
    @inlinable
    public static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ handler: @escaping @Sendable (Request, RPCServerContext) async throws -> Response
    ) -> RPCMethod {
        RPCMethod(path: path, requestType: Request.protoMessageName, responseType: Response.protoMessageName) { payload, context in
            let request = try ProtobufCoding.decode(Request.self, from: payload, what: "request")
            return try ProtobufCoding.encode(try await handler(request, context))
        }
    }

    /// A unary method on protobuf messages, started on the connection's event loop (see ``RPCMethod/init(path:requestType:responseType:unaryOnEventLoop:)``).
    @inlinable
    public static func unaryOnEventLoop<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ handler: @escaping @Sendable (Request, RPCServerContext, any EventLoop) -> EventLoopFuture<Response>
    ) -> RPCMethod {
        RPCMethod(path: path, requestType: Request.protoMessageName, responseType: Response.protoMessageName) { payload, context, eventLoop in
            let request: Request
            do {
                request = try ProtobufCoding.decode(Request.self, from: payload, what: "request")
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            return handler(request, context, eventLoop).flatMapThrowing { try ProtobufCoding.encode($0) }
        }
    }

    /// A server-streaming method on protobuf messages that takes no client messages.
    public static func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        _ handler: @escaping @Sendable (Request, RPCMessageWriter<Response>, RPCServerContext) async throws -> Void
    ) -> RPCMethod {
        RPCMethod(path: path, requestType: Request.protoMessageName, responseType: Response.protoMessageName) { payload, _, writer, context in
            let request = try ProtobufCoding.decode(Request.self, from: payload, what: "request")
            try await handler(request, RPCMessageWriter(writer), context)
        }
    }

    /// A server-streaming method that also reads client messages on the open stream.
    public static func serverStreaming<Request: SwiftProtobuf.Message, ClientMessage: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ path: String,
        clientMessages: ClientMessage.Type,
        _ handler: @escaping @Sendable (Request, RPCMessageSequence<ClientMessage>, RPCMessageWriter<Response>, RPCServerContext) async throws -> Void
    ) -> RPCMethod {
        RPCMethod(
            path: path,
            requestType: Request.protoMessageName,
            responseType: Response.protoMessageName,
            acceptsClientMessages: true
        ) { payload, messages, writer, context in
            let request = try ProtobufCoding.decode(Request.self, from: payload, what: "request")
            try await handler(request, RPCMessageSequence(messages), RPCMessageWriter(writer), context)
        }
    }
}

/// A response writer for one protobuf message type.
public struct RPCMessageWriter<Message: SwiftProtobuf.Message>: Sendable {
    let base: RPCResponseWriter

    init(_ base: RPCResponseWriter) {
        self.base = base
    }

    public func write(_ message: Message) async throws {
        try await self.base.write(try ProtobufCoding.encode(message))
    }
}

/// Client messages decoded as one protobuf message type; a message that
/// does not decode ends the sequence with INVALID_ARGUMENT.
public struct RPCMessageSequence<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
    public typealias Element = Message

    let base: RPCClientMessages

    init(_ base: RPCClientMessages) {
        self.base = base
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: RPCClientMessages.AsyncIterator

        public mutating func next() async throws -> Message? {
            guard let payload = try await self.base.next() else { return nil }
            return try ProtobufCoding.decode(Message.self, from: payload, what: "client message")
        }
    }
}

/// Protobuf to payload and back, with the transport's error for bad input.
public enum ProtobufCoding {
    /// Decodes a payload; bytes that are not a valid `T` are INVALID_ARGUMENT.
    @inlinable
    public static func decode<T: SwiftProtobuf.Message>(_: T.Type, from payload: ByteBuffer, what: String) throws(RPCError) -> T {
        do {
            return try T(serializedBytes: Array(payload.readableBytesView))
        } catch {
            throw RPCError(.invalidArgument, "the \(what) is not a valid \(T.protoMessageName): \(error)")
        }
    }

    @inlinable
    public static func encode<T: SwiftProtobuf.Message>(_ message: T) throws -> ByteBuffer {
        let bytes: [UInt8] = try message.serializedBytes()
        return ByteBuffer(bytes: bytes)
    }
}
