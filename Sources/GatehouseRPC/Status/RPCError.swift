/// A call that ended with a status other than OK.
///
/// Server handlers throw it to choose the status their caller sees; any
/// other error a handler throws reaches the caller as INTERNAL, without its
/// text (which may hold internals). The client throws it for every failed call.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: RPCStatus
    /// On the client, the local failure behind a connection's status, when there
    /// was one (a `TLSError`, a socket or name-resolution error): what a tool
    /// inspects to tell a wrong CA from a refused connection. Never sent, and
    /// not part of equality: two errors with the same status are equal.
    public var cause: (any Error)?

    public init(_ code: RPCStatus.Code, _ message: String, details: [UInt8] = [], cause: (any Error)? = nil) {
        self.status = RPCStatus(code: code, message: message, details: details)
        self.cause = cause
    }

    public init(status: RPCStatus) {
        self.status = status
    }

    public var code: RPCStatus.Code { self.status.code }
    public var message: String { self.status.message }

    public var description: String { self.status.description }

    public static func == (lhs: RPCError, rhs: RPCError) -> Bool {
        lhs.status == rhs.status
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.status)
    }
}
