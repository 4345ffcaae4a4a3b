import COpenSSL

/// A failure of the TLS layer, with OpenSSL's own explanation attached.
///
/// OpenSSL reports errors through a per-thread queue of packed codes. A
/// Swift caller cannot act on those, and a log line without them is useless
/// for diagnosis, so every failure carries both: a ``Kind`` that code can
/// switch on, and the queue's contents as OpenSSL prints them
/// (`error:0A000086:SSL routines::certificate verify failed`).
public struct TLSError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What went wrong, coarse enough to decide on (retry, refuse, alert an operator).
    public enum Kind: Sendable, Hashable {
        /// The configuration cannot be used: a missing or unreadable file, a
        /// key that does not match its certificate, an invalid option. The
        /// associated text names the file or option.
        case configuration(String)
        /// The TLS handshake failed for a reason other than certificate verification
        /// (no common protocol or cipher, an alert from the peer, a missing client certificate…).
        case handshakeFailed
        /// The peer's certificate did not verify: unknown issuer, expired,
        /// revoked, or a name mismatch. ``TLSError/verificationFailure`` says which.
        case certificateVerificationFailed
        /// The handshake did not finish within the configured time.
        case handshakeTimeout
        /// OpenSSL failed while reading or writing application data after the
        /// handshake, typically because the peer sent a fatal alert (in TLS 1.3
        /// a server refuses a client certificate only after the client believes
        /// the handshake complete, so the client sees the refusal here).
        case io
        /// The connection closed without a TLS `close_notify`: the peer went away
        /// mid-handshake, or the stream may have been truncated.
        case unexpectedClose
        /// Creating a key or certificate failed; the text says which step.
        case certificateIssuance(String)
    }

    /// What went wrong.
    public var kind: Kind
    /// OpenSSL's error queue at the time of the failure, oldest first, as
    /// `ERR_error_string_n` prints each entry.
    public var openSSLErrors: [String]
    /// When certificate verification failed: OpenSSL's reason, e.g.
    /// `unable to get local issuer certificate (20)`.
    public var verificationFailure: String?

    /// Creates an error of `kind` with the given OpenSSL error strings.
    public init(_ kind: Kind, openSSLErrors: [String] = [], verificationFailure: String? = nil) {
        self.kind = kind
        self.openSSLErrors = openSSLErrors
        self.verificationFailure = verificationFailure
    }

    public var description: String {
        var text: String
        switch self.kind {
        case .configuration(let detail): text = "TLS configuration error: \(detail)"
        case .handshakeFailed: text = "TLS handshake failed"
        case .certificateVerificationFailed: text = "TLS peer certificate verification failed"
        case .handshakeTimeout: text = "TLS handshake timed out"
        case .io: text = "TLS read/write failed"
        case .unexpectedClose: text = "TLS connection closed without close_notify"
        case .certificateIssuance(let detail): text = "certificate issuance failed: \(detail)"
        }
        if let verificationFailure = self.verificationFailure {
            text += " (\(verificationFailure))"
        }
        if !self.openSSLErrors.isEmpty {
            text += ": " + self.openSSLErrors.joined(separator: "; ")
        }
        return text
    }

    /// Builds an error of `kind` from the current thread's OpenSSL error queue, emptying it.
    static func fromQueue(_ kind: Kind, verificationFailure: String? = nil) -> TLSError {
        TLSError(kind, openSSLErrors: OpenSSLErrorQueue.drain(), verificationFailure: verificationFailure)
    }
}

/// The per-thread OpenSSL error queue, read into Swift strings.
///
/// OpenSSL leaves errors on the queue of whichever thread made the failing
/// call. An event-loop thread serves many connections, so a stale entry from
/// one connection would be blamed on the next: callers clear the queue
/// (``clear()``) before every OpenSSL call whose failure they inspect, and
/// drain it right after.
enum OpenSSLErrorQueue {
    /// Empties the queue, so the next failure reports only its own causes.
    static func clear() {
        ERR_clear_error()
    }

    /// Removes and returns every queued error, oldest first.
    static func drain() -> [String] {
        var errors: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            buffer.withUnsafeMutableBufferPointer { pointer in
                ERR_error_string_n(code, pointer.baseAddress, pointer.count)
            }
            errors.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return errors
    }
}
