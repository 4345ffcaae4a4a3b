import NIOCore

/// A gRPC call's final status: the `grpc-status` code and `grpc-message` text.
struct GRPCStatus: Sendable, Hashable, CustomStringConvertible {
    /// The code (0 OK, 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE, ...).
    var code: Int
    /// The message, percent-decoded.
    var message: String

    static let ok = 0
    static let unknown = 2
    static let deadlineExceeded = 4
    static let `internal` = 13
    static let unavailable = 14

    var isOK: Bool { self.code == Self.ok }

    var description: String { "gRPC status \(self.code): \(self.message)" }

    /// The status a trailer block (or trailers-only response) carries; a
    /// missing or unreadable `grpc-status` is a broken response, reported as INTERNAL.
    init(grpcStatus: String?, grpcMessage: String?) {
        guard let text = grpcStatus else {
            self.init(code: Self.internal, message: "etcd ended the call without a grpc-status")
            return
        }
        guard let code = Int(text), code >= 0 else {
            self.init(code: Self.internal, message: "etcd sent an unreadable grpc-status \"\(text)\"")
            return
        }
        self.init(code: code, message: grpcMessage.map(Self.percentDecoded) ?? "")
    }

    init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    /// The status gRPC derives from an HTTP status other than 200 (the gRPC
    /// over HTTP/2 spec's table): a proxy or a server that is not gRPC answered.
    static func fromHTTPStatus(_ status: String) -> GRPCStatus {
        let code: Int
        switch status {
        case "400": code = Self.internal
        case "401": code = 16  // UNAUTHENTICATED
        case "403": code = 7  // PERMISSION_DENIED
        case "404": code = 12  // UNIMPLEMENTED
        case "429", "502", "503", "504": code = Self.unavailable
        default: code = Self.unknown
        }
        return GRPCStatus(code: code, message: "etcd answered HTTP status \(status) instead of a gRPC response")
    }

    /// Undoes `grpc-message`'s percent-encoding (`%XX` of UTF-8 bytes); a
    /// malformed escape is kept as it is rather than losing the message.
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        let bytes = Array(text.utf8)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The `grpc-timeout` header: at most 8 digits and a unit.
enum GRPCTimeout {
    /// `remaining` rounded up to whole milliseconds (`250m`), or whole seconds
    /// when that does not fit 8 digits; never 0, which would expire at once.
    static func headerValue(_ remaining: TimeAmount) -> String {
        let nanoseconds = max(remaining.nanoseconds, 1)
        let milliseconds = (nanoseconds + 999_999) / 1_000_000
        if milliseconds < 100_000_000 {
            return "\(milliseconds)m"
        }
        let seconds = min((nanoseconds + 999_999_999) / 1_000_000_000, 99_999_999)
        return "\(seconds)S"
    }
}
