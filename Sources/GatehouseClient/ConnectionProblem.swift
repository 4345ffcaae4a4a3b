import GatehouseRPC
import GatehouseTLS
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a connection to a Gatehouse server could not be set up, in terms a
/// person can act on: each case has one likely fix (a tool names it, with the
/// config file and address it used, instead of printing a socket or OpenSSL error).
public enum ConnectionProblem: Sendable, Hashable {
    /// Nothing listens at the address (ECONNREFUSED).
    case refused
    /// The host name does not resolve.
    case unresolvable
    /// No TCP connection, TLS handshake or HELLO within the time allowed.
    case timedOut
    /// The server's certificate does not verify against the client's CA: the wrong
    /// CA file, or a server of another installation. OpenSSL's reason, when it gave one.
    case serverNotTrusted(String?)
    /// The server's certificate is valid but not for the host name the client asked for.
    case nameMismatch
    /// The server refused the client's certificate (another CA's, expired or revoked):
    /// in TLS 1.3 a client learns it only after it thinks the handshake done.
    case clientCertificateRefused
    /// The peer closed the connection during the handshake without saying why.
    case closedDuringHandshake
    /// Anything else: the status' own message says what.
    case other

    /// The problem behind `error`, a failure of `GatehouseClient.connect` / `RPCClientConnection.connect`.
    public init(_ error: any Error) {
        guard let rpc = error as? RPCError else {
            self = Self.classify(cause: error)
            return
        }
        if rpc.code == .deadlineExceeded {
            self = .timedOut
        } else if let cause = rpc.cause {
            self = Self.classify(cause: cause)
        } else {
            self = .other
        }
    }

    private static func classify(cause: any Error) -> ConnectionProblem {
        switch cause {
        case let tls as TLSError:
            return Self.classify(tls)
        case let connection as NIOConnectionError:
            if connection.connectionErrors.isEmpty, connection.dnsAError != nil || connection.dnsAAAAError != nil {
                return .unresolvable
            }
            let problems = connection.connectionErrors.map { Self.classify(cause: $0.error) }
            if problems.contains(.refused) { return .refused }
            if problems.contains(.timedOut) { return .timedOut }
            return problems.first ?? .other
        case let channel as ChannelError:
            switch channel {
            case .connectTimeout: return .timedOut
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return .closedDuringHandshake
            default: return .other
            }
        case let io as IOError:
            switch io.errnoCode {
            case ECONNREFUSED: return .refused
            // The peer reset or closed the connection before the HELLO: the same hang-up, seen by a read or a write.
            case ECONNRESET, EPIPE: return .closedDuringHandshake
            default: return .other
            }
        case is SocketAddressError:
            return .unresolvable
        default:
            return .other
        }
    }

    private static func classify(_ error: TLSError) -> ConnectionProblem {
        let text = (error.openSSLErrors + [error.verificationFailure ?? ""]).joined(separator: " ").lowercased()
        switch error.kind {
        case .certificateVerificationFailed:
            return text.contains("hostname mismatch") || text.contains("ip address mismatch") ? .nameMismatch : .serverNotTrusted(error.verificationFailure)
        case .handshakeTimeout:
            return .timedOut
        case .unexpectedClose:
            return .closedDuringHandshake
        case .handshakeFailed, .io:
            // Alerts the server sends about the client's certificate.
            let aboutUs = ["unknown ca", "certificate required", "bad certificate", "certificate unknown", "certificate expired", "certificate revoked", "decrypt error"]
            return aboutUs.contains { text.contains($0) } ? .clientCertificateRefused : .other
        case .configuration, .certificateIssuance:
            return .other
        }
    }

    /// What a client TLS context could not be built from, in words (`TLSError`'s own
    /// text names the file or option); nil when `error` is not such a failure.
    public static func configurationDetail(_ error: any Error) -> String? {
        guard let tls = error as? TLSError, case .configuration(let detail) = tls.kind else { return nil }
        return detail
    }
}
