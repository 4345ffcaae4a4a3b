/// A call that ended with a status other than OK.
///
/// Server handlers throw it to choose the status their caller sees; any
/// other error a handler throws reaches the caller as INTERNAL, without its
/// text (which may hold internals). The client throws it for every failed call.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: RPCStatus

    public init(_ code: RPCStatus.Code, _ message: String, details: [UInt8] = []) {
        self.status = RPCStatus(code: code, message: message, details: details)
    }

    public init(status: RPCStatus) {
        self.status = status
    }

    public var code: RPCStatus.Code { self.status.code }
    public var message: String { self.status.message }

    public var description: String { self.status.description }
}
