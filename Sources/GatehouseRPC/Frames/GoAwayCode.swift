/// Why a connection ends, carried in GOAWAY (PROTOCOL.md section 4).
public enum GoAwayCode: Hashable, Sendable, CustomStringConvertible {
    case noError
    case protocolError
    case frameSizeError
    case unsupportedVersion
    case internalError
    case timeout
    /// The peer sent more than the server will answer: a PING flood, too
    /// many cancelled calls. Named after HTTP/2's code of the same meaning.
    case enhanceYourCalm
    /// A code this implementation does not know; kept so it can be reported.
    case unknown(UInt16)

    public init(rawValue: UInt16) {
        switch rawValue {
        case 0: self = .noError
        case 1: self = .protocolError
        case 2: self = .frameSizeError
        case 3: self = .unsupportedVersion
        case 4: self = .internalError
        case 5: self = .timeout
        case 6: self = .enhanceYourCalm
        default: self = .unknown(rawValue)
        }
    }

    public var rawValue: UInt16 {
        switch self {
        case .noError: return 0
        case .protocolError: return 1
        case .frameSizeError: return 2
        case .unsupportedVersion: return 3
        case .internalError: return 4
        case .timeout: return 5
        case .enhanceYourCalm: return 6
        case .unknown(let value): return value
        }
    }

    public var description: String {
        switch self {
        case .noError: return "NO_ERROR"
        case .protocolError: return "PROTOCOL_ERROR"
        case .frameSizeError: return "FRAME_SIZE_ERROR"
        case .unsupportedVersion: return "UNSUPPORTED_VERSION"
        case .internalError: return "INTERNAL_ERROR"
        case .timeout: return "TIMEOUT"
        case .enhanceYourCalm: return "ENHANCE_YOUR_CALM"
        case .unknown(let value): return "UNKNOWN(\(value))"
        }
    }
}
