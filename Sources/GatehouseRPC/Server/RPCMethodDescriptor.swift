/// What the transport needs to know about a method to run calls to it.
public struct RPCMethodDescriptor: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// One request, one response.
        case unary
        /// One request, any number of responses.
        case serverStreaming
    }

    /// `/<package>.<Service>/<Method>`.
    public var path: String
    public var kind: Kind
    /// Fully qualified protobuf message names, for discovery.
    public var requestType: String
    public var responseType: String
    /// Whether the client may send messages after the request on the open stream.
    public var acceptsClientMessages: Bool

    public init(path: String, kind: Kind, requestType: String, responseType: String, acceptsClientMessages: Bool = false) {
        self.path = path
        self.kind = kind
        self.requestType = requestType
        self.responseType = responseType
        self.acceptsClientMessages = acceptsClientMessages && kind == .serverStreaming
    }
}
