import Foundation
import GatehouseCore
import GatehouseProto
import GatehouseRPC

/// Where the next page of a listing starts: the opaque `page_token` of
/// PROTOCOL.md 6.2, as the server reads it back.
///
/// A token names the method it came from, the revision the listing was first
/// read at (so later pages can be served from that same state while the
/// server still holds it), a digest of the request's filters (so it is not
/// reused with other filters, which would skip or repeat entries), and the
/// key of the last entry sent: entries are listed in key order, and the next
/// page starts strictly after that key, whatever changed meanwhile.
///
/// It is not a secret and grants nothing: authorization looks at the
/// request, never at the token, and every field is checked as if a client
/// had written it. The checksum is there to turn a damaged or hand-edited
/// token into a clear INVALID_ARGUMENT instead of a silently wrong page.
struct PageToken: Hashable, Sendable {
    /// The listing it continues, e.g. "Features/List".
    var method: String
    /// The revision the first page was read at.
    var revision: UInt64
    /// ``PageToken/digest(_:)`` of the request's fields other than the page fields.
    var filter: UInt64
    /// The key of the last entry already sent.
    var after: String

    /// The layout's version: the first octet of every token.
    static let format: UInt8 = 1
    /// Longer text than this is refused before it is decoded.
    static let maximumTextLength = 4_096

    /// The text sent as `next_page_token`: base64url without padding.
    var text: String {
        var bytes: [UInt8] = [Self.format]
        let method = Array(self.method.utf8.prefix(255))
        bytes.append(UInt8(method.count))
        bytes.append(contentsOf: method)
        Self.append(self.revision, to: &bytes)
        Self.append(self.filter, to: &bytes)
        bytes.append(contentsOf: self.after.utf8)
        Self.append(Self.checksum(bytes), to: &bytes)
        return Self.base64url(bytes)
    }

    private static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads a token back; nil for an empty text (the first page).
    ///
    /// - Throws: ``PageTokenError`` for anything this server did not write
    ///   for `method` and a request with the same `filter`.
    static func decode(_ text: String, method: String, filter: UInt64) throws(PageTokenError) -> PageToken? {
        guard !text.isEmpty else { return nil }
        guard text.utf8.count <= Self.maximumTextLength else { throw .malformed("longer than \(Self.maximumTextLength) characters") }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { throw .malformed("not base64url") }
        let bytes = [UInt8](data)
        // Only the one spelling this server writes: a last character whose unused bits were edited decodes the same.
        guard Self.base64url(bytes) == text else { throw .malformed("not in canonical base64url") }
        // format, method length, 2 × 8 octets of numbers, 8 octets of checksum.
        guard bytes.count >= 1 + 1 + 16 + 8 else { throw .malformed("too short") }
        let body = bytes.dropLast(8)
        guard Self.read(bytes, at: bytes.count - 8) == Self.checksum(Array(body)) else { throw .malformed("its checksum does not match") }
        guard bytes[0] == Self.format else { throw .malformed("unknown format \(bytes[0])") }
        let methodLength = Int(bytes[1])
        guard body.count >= 2 + methodLength + 16 else { throw .malformed("too short") }
        let tokenMethod = String(decoding: bytes[2..<(2 + methodLength)], as: UTF8.self)
        var offset = 2 + methodLength
        let revision = Self.read(bytes, at: offset)
        offset += 8
        let tokenFilter = Self.read(bytes, at: offset)
        offset += 8
        guard let after = String(validating: bytes[offset..<body.endIndex], as: UTF8.self) else { throw .malformed("its key is not UTF-8") }
        guard tokenMethod == method else { throw .otherMethod(tokenMethod) }
        guard tokenFilter == filter else { throw .otherFilters }
        return PageToken(method: tokenMethod, revision: revision, filter: tokenFilter, after: after)
    }

    /// A digest of a request's filter fields (its encoding with the page fields cleared).
    ///
    /// FNV-1a: a checksum to catch a token reused with other filters, not a
    /// cryptographic hash (nothing depends on it being hard to forge).
    static func digest(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The digest of the token's own octets, under a prefix of its own so it differs from a filter digest.
    private static func checksum(_ bytes: [UInt8]) -> UInt64 {
        Self.digest(Array("gatehouse page token".utf8) + bytes)
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Why a `page_token` was refused; always INVALID_ARGUMENT on the wire.
enum PageTokenError: Error, Hashable, CustomStringConvertible {
    /// Not a token this server writes (truncated, edited, or not a token at all).
    case malformed(String)
    /// A token from another listing method.
    case otherMethod(String)
    /// A token from the same method but a request with other filters.
    case otherFilters

    var description: String {
        switch self {
        case .malformed(let why):
            "page_token is not a token this server wrote (\(why)); pass next_page_token unchanged, or leave page_token empty to start again"
        case .otherMethod(let method):
            "page_token continues a \(method) listing, not this one; leave page_token empty to start again"
        case .otherFilters:
            "page_token was issued for a request with other filters; repeat the first request's fields exactly with each page, or leave page_token empty to start again"
        }
    }

    /// INVALID_ARGUMENT with `ErrorDetails.reason` INVALID_PAGE_TOKEN and a field violation on `page_token`.
    var rpcError: RPCError {
        let details = Gatehouse_V1_ErrorDetails.with {
            $0.reason = GateError.Reason.invalidPageToken.rawValue  // listed in PROTOCOL.md 5.1
            $0.fieldViolations = [.with { $0.field = "page_token"; $0.description_p = self.description }]
        }
        return RPCError(.invalidArgument, self.description, details: (try? details.serializedBytes()) ?? [])
    }
}
