import NIOCore

/// A method the server serves: its descriptor and its implementation on raw payloads.
///
/// Typed constructors for protobuf messages live in `RPCMethod+Protobuf.swift`.
public struct RPCMethod: Sendable {
    public typealias Unary = @Sendable (ByteBuffer, RPCServerContext) async throws -> ByteBuffer
    public typealias ServerStreaming = @Sendable (ByteBuffer, RPCClientMessages, RPCResponseWriter, RPCServerContext) async throws -> Void
    /// Sets up a call on its connection's event loop; see ``RPCLoopCall``.
    public typealias LoopStreaming = @Sendable (ByteBuffer, RPCLoopCall) throws -> RPCLoopCall.Handlers
    /// Starts a unary call on its connection's event loop (the third argument) and returns its response.
    public typealias LoopUnary = @Sendable (ByteBuffer, RPCServerContext, any EventLoop) -> EventLoopFuture<ByteBuffer>

    enum Implementation: Sendable {
        case unary(Unary)
        case loopUnary(LoopUnary)
        case serverStreaming(ServerStreaming)
        case loopStreaming(LoopStreaming)
    }

    public let descriptor: RPCMethodDescriptor
    let implementation: Implementation
    /// Run when the call's HEADERS arrive; see ``checked(by:)``.
    let check: Check?

    public init(path: String, requestType: String, responseType: String, unary: @escaping Unary) {
        self.descriptor = RPCMethodDescriptor(path: path, kind: .unary, requestType: requestType, responseType: responseType)
        self.implementation = .unary(unary)
        self.check = nil
    }

    /// A unary method started on the event loop, for short calls that only
    /// hand work to another thread and wait for its answer (a store write):
    /// no task is created, and the call costs two thread hops fewer. The
    /// method must not block the loop.
    public init(path: String, requestType: String, responseType: String, unaryOnEventLoop: @escaping LoopUnary) {
        self.descriptor = RPCMethodDescriptor(path: path, kind: .unary, requestType: requestType, responseType: responseType)
        self.implementation = .loopUnary(unaryOnEventLoop)
        self.check = nil
    }

    public init(
        path: String,
        requestType: String,
        responseType: String,
        acceptsClientMessages: Bool = false,
        serverStreaming: @escaping ServerStreaming
    ) {
        self.init(streaming: .serverStreaming(serverStreaming), path: path, requestType: requestType, responseType: responseType, acceptsClientMessages: acceptsClientMessages)
    }

    /// A server-streaming method run on the event loop, for long, mostly idle calls (no task per call).
    public init(
        path: String,
        requestType: String,
        responseType: String,
        acceptsClientMessages: Bool = false,
        onEventLoop: @escaping LoopStreaming
    ) {
        self.init(streaming: .loopStreaming(onEventLoop), path: path, requestType: requestType, responseType: responseType, acceptsClientMessages: acceptsClientMessages)
    }

    private init(streaming implementation: Implementation, path: String, requestType: String, responseType: String, acceptsClientMessages: Bool) {
        self.descriptor = RPCMethodDescriptor(
            path: path,
            kind: .serverStreaming,
            requestType: requestType,
            responseType: responseType,
            acceptsClientMessages: acceptsClientMessages
        )
        self.implementation = implementation
        self.check = nil
    }

    /// The same method with another check in front of it.
    private init(_ method: RPCMethod, check: @escaping Check) {
        self.descriptor = method.descriptor
        self.implementation = method.implementation
        self.check = check
    }
}

extension RPCMethod {
    /// Decides from the call's context alone (peer identity, path, metadata) whether it may run.
    public typealias Check = @Sendable (RPCServerContext) throws -> Void

    /// The same method with `check` run before it: an interceptor for
    /// cross-cutting rules (authorization) that the transport knows nothing of.
    ///
    /// The connection runs the check as soon as the call's HEADERS arrive,
    /// before it holds anything for the call or reads its request: a caller
    /// that may not call the method is answered at once with the error the
    /// check throws (as TRAILERS), and the method never starts. Checks added
    /// by several calls run in the order they were added.
    public func checked(by check: @escaping Check) -> RPCMethod {
        guard let earlier = self.check else { return RPCMethod(self, check: check) }
        return RPCMethod(self) { context in
            try earlier(context)
            try check(context)
        }
    }
}

/// The method table: path → method. The dispatch of every call goes through it.
public struct RPCRouter: Sendable {
    public private(set) var methods: [String: RPCMethod] = [:]
    /// The descriptors by path, kept alongside so that every connection's
    /// state machine shares this one table instead of building its own.
    private(set) var descriptorsByPath: [String: RPCMethodDescriptor] = [:]

    public init(_ methods: [RPCMethod] = []) {
        for method in methods { self.register(method) }
    }

    /// Adds a method; registering the same path twice is a programming error.
    public mutating func register(_ method: RPCMethod) {
        precondition(self.methods[method.descriptor.path] == nil, "method \(method.descriptor.path) registered twice")
        precondition(Self.isValidPath(method.descriptor.path), "method path \(method.descriptor.path) is not /<package>.<Service>/<Method>")
        self.methods[method.descriptor.path] = method
        self.descriptorsByPath[method.descriptor.path] = method.descriptor
    }

    public mutating func register(contentsOf methods: [RPCMethod]) {
        for method in methods { self.register(method) }
    }

    /// Every method's descriptor, sorted by path.
    public var descriptors: [RPCMethodDescriptor] {
        self.methods.values.map(\.descriptor).sorted { $0.path < $1.path }
    }

    static func isValidPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].isEmpty && parts[1].contains(".") && !parts[2].isEmpty
    }
}
