/// A call's outcome: a gRPC canonical code, a message for people and
/// optional serialized details (PROTOCOL.md section 5).
public struct RPCStatus: Hashable, Sendable, CustomStringConvertible {
    public var code: Code
    public var message: String
    /// A serialized `gatehouse.v1.ErrorDetails`, or empty.
    public var details: [UInt8]

    public init(code: Code, message: String = "", details: [UInt8] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public static let ok = RPCStatus(code: .ok)

    public var isOK: Bool { self.code == .ok }

    public var description: String {
        self.message.isEmpty ? "\(self.code)" : "\(self.code): \(self.message)"
    }
}

extension RPCStatus {
    /// Status codes, equal to gRPC's canonical codes.
    public enum Code: Hashable, Sendable, CustomStringConvertible {
        case ok
        case cancelled
        case unknown
        case invalidArgument
        case deadlineExceeded
        case notFound
        case alreadyExists
        case permissionDenied
        case resourceExhausted
        case failedPrecondition
        case aborted
        case outOfRange
        case unimplemented
        case `internal`
        case unavailable
        case dataLoss
        case unauthenticated
        /// A code outside 0…16, kept as received.
        case other(UInt16)

        public init(rawValue: UInt16) {
            switch rawValue {
            case 0: self = .ok
            case 1: self = .cancelled
            case 2: self = .unknown
            case 3: self = .invalidArgument
            case 4: self = .deadlineExceeded
            case 5: self = .notFound
            case 6: self = .alreadyExists
            case 7: self = .permissionDenied
            case 8: self = .resourceExhausted
            case 9: self = .failedPrecondition
            case 10: self = .aborted
            case 11: self = .outOfRange
            case 12: self = .unimplemented
            case 13: self = .internal
            case 14: self = .unavailable
            case 15: self = .dataLoss
            case 16: self = .unauthenticated
            default: self = .other(rawValue)
            }
        }

        public var rawValue: UInt16 {
            switch self {
            case .ok: return 0
            case .cancelled: return 1
            case .unknown: return 2
            case .invalidArgument: return 3
            case .deadlineExceeded: return 4
            case .notFound: return 5
            case .alreadyExists: return 6
            case .permissionDenied: return 7
            case .resourceExhausted: return 8
            case .failedPrecondition: return 9
            case .aborted: return 10
            case .outOfRange: return 11
            case .unimplemented: return 12
            case .internal: return 13
            case .unavailable: return 14
            case .dataLoss: return 15
            case .unauthenticated: return 16
            case .other(let value): return value
            }
        }

        /// The canonical UPPER_SNAKE_CASE name, as gRPC spells it.
        public var description: String {
            switch self {
            case .ok: return "OK"
            case .cancelled: return "CANCELLED"
            case .unknown: return "UNKNOWN"
            case .invalidArgument: return "INVALID_ARGUMENT"
            case .deadlineExceeded: return "DEADLINE_EXCEEDED"
            case .notFound: return "NOT_FOUND"
            case .alreadyExists: return "ALREADY_EXISTS"
            case .permissionDenied: return "PERMISSION_DENIED"
            case .resourceExhausted: return "RESOURCE_EXHAUSTED"
            case .failedPrecondition: return "FAILED_PRECONDITION"
            case .aborted: return "ABORTED"
            case .outOfRange: return "OUT_OF_RANGE"
            case .unimplemented: return "UNIMPLEMENTED"
            case .internal: return "INTERNAL"
            case .unavailable: return "UNAVAILABLE"
            case .dataLoss: return "DATA_LOSS"
            case .unauthenticated: return "UNAUTHENTICATED"
            case .other(let value): return "CODE_\(value)"
            }
        }
    }
}
