/// The type octet of a frame header (PROTOCOL.md section 2.1).
public enum FrameType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 0x00
    case headers = 0x01
    case message = 0x02
    case trailers = 0x03
    case cancel = 0x04
    case ping = 0x05
    case goAway = 0x06

    /// The name PROTOCOL.md uses.
    public var description: String {
        switch self {
        case .hello: return "HELLO"
        case .headers: return "HEADERS"
        case .message: return "MESSAGE"
        case .trailers: return "TRAILERS"
        case .cancel: return "CANCEL"
        case .ping: return "PING"
        case .goAway: return "GOAWAY"
        }
    }

    /// Connection frames travel on stream 0; call frames never do.
    var isConnectionFrame: Bool {
        switch self {
        case .hello, .ping, .goAway: return true
        case .headers, .message, .trailers, .cancel: return false
        }
    }

    /// The flag bits this type defines; any other set bit is a protocol error.
    var definedFlags: UInt8 {
        switch self {
        case .message: return FrameFlags.endStream
        case .ping: return FrameFlags.ack
        case .hello, .headers, .trailers, .cancel, .goAway: return 0
        }
    }
}

/// Flag bits, meaningful only on the frame types that define them.
enum FrameFlags {
    /// MESSAGE: the client sends nothing more on this call.
    static let endStream: UInt8 = 0x01
    /// PING: this is the answer to a PING.
    static let ack: UInt8 = 0x01
}
