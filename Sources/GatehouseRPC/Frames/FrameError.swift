/// A frame that breaks PROTOCOL.md: the connection must end with GOAWAY `code`.
public struct FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The GOAWAY code to send: `.protocolError` or `.frameSizeError`.
    public var code: GoAwayCode
    /// What was wrong, for the peer's debug text and our logs.
    public var reason: String

    public init(_ code: GoAwayCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    static func malformed(_ reason: String) -> FrameError {
        FrameError(.protocolError, reason)
    }

    public var description: String { "\(self.code): \(self.reason)" }
}
