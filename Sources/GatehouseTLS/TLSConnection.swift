import COpenSSL
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One OpenSSL `SSL` object and its two memory BIOs: the TLS engine of one connection.
///
/// The engine never touches a socket. Ciphertext from the network is written
/// into the `fromNetwork` BIO, and whatever OpenSSL wants sent accumulates in
/// the `toNetwork` BIO until the handler takes it; so the engine can be
/// driven entirely by ``TLSHandler`` on its event loop, and tested without
/// sockets. Every OpenSSL call is preceded by `ERR_clear_error()` so that
/// failures report only their own causes, and each call's result is mapped
/// to a small Swift enum.
///
/// Not thread-safe: owned by one handler on one event loop.
final class TLSConnection {
    /// The outcome of driving the handshake.
    enum HandshakeOutcome {
        /// Waiting for the peer's next flight.
        case incomplete
        /// The handshake finished and the peer is verified.
        case complete
        /// The handshake failed; any alert OpenSSL produced is waiting in the outgoing BIO.
        case failed(TLSError)
    }

    /// The outcome of one attempt to read plaintext.
    enum ReadOutcome {
        /// Some plaintext.
        case data(ByteBuffer)
        /// Nothing more until further ciphertext arrives.
        case needMoreCiphertext
        /// The peer sent `close_notify`.
        case closeNotify
        /// A fatal error (often an alert from the peer).
        case failed(TLSError)
    }

    /// The context this connection was made from; kept alive as long as the `SSL` is.
    let context: TLSContext
    private let ssl: OpaquePointer
    private var fromNetwork: OpaquePointer
    private var toNetwork: OpaquePointer
    /// Retained while the `SSL` may call the session callback with it.
    private let sessionSlot: SessionCacheSlot?
    /// A problem found while setting the connection up, reported when the handshake starts
    /// (so that ``TLSHandler/init(context:serverHostname:sessionKey:logger:)`` need not throw).
    private let setupError: TLSError?
    /// The peer name checked against the server certificate, if any.
    let serverHostname: String?

    /// Creates the engine for one connection of `context`'s role.
    ///
    /// - Parameters:
    ///   - serverHostname: client only: sent as SNI (unless an IP literal) and
    ///     checked against the server certificate's SANs.
    ///   - sessionKey: client only: under which key resumable sessions are
    ///     cached, and which cached session to offer.
    init(context: TLSContext, serverHostname: String?, sessionKey: String?) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.sslContext) else {
            preconditionFailure("OpenSSL could not allocate a connection: \(OpenSSLErrorQueue.drain())")
        }
        let fromNetwork = Self.makeMemoryBIO(readable: true)
        let toNetwork = Self.makeMemoryBIO(readable: false)
        SSL_set_bio(ssl, fromNetwork, toNetwork)  // the SSL now owns both BIOs
        self.ssl = ssl
        self.fromNetwork = fromNetwork
        self.toNetwork = toNetwork
        self.context = context
        self.serverHostname = serverHostname

        var setupError: TLSError? = nil
        var slot: SessionCacheSlot? = nil
        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverHostname {
                setupError = Self.configurePeerName(ssl, serverHostname)
            }
            if let sessionKey, let cache = context.sessionCache {
                let newSlot = SessionCacheSlot(key: sessionKey, cache: cache)
                SSL_set_ex_data(ssl, sessionSlotExDataIndex, Unmanaged.passUnretained(newSlot).toOpaque())
                cache.offer(for: sessionKey, on: ssl)
                slot = newSlot
            }
        }
        self.sessionSlot = slot
        self.setupError = setupError
        OpenSSLErrorQueue.clear()
    }

    deinit {
        SSL_free(self.ssl)  // frees both BIOs too
    }

    private static func makeMemoryBIO(readable: Bool) -> OpaquePointer {
        guard let bio = BIO_new(BIO_s_mem()) else {
            preconditionFailure("OpenSSL could not allocate a memory BIO: \(OpenSSLErrorQueue.drain())")
        }
        // An empty incoming BIO means "retry later", not end of file.
        if readable { _ = gh_BIO_set_mem_eof_return(bio, -1) }
        return bio
    }

    /// Gives back the memory the handshake's flights grew the BIOs to.
    ///
    /// A memory BIO keeps its largest size for life; the certificate flights
    /// leave a few KiB in each, which an idle connection (a subscriber) would
    /// hold forever. Fresh BIOs take over, with any bytes still pending.
    func releaseHandshakeBuffers() {
        let fromNetwork = Self.makeMemoryBIO(readable: true)
        Self.move(from: self.fromNetwork, to: fromNetwork)
        let toNetwork = Self.makeMemoryBIO(readable: false)
        Self.move(from: self.toNetwork, to: toNetwork)
        SSL_set0_rbio(self.ssl, fromNetwork)  // frees the old ones
        SSL_set0_wbio(self.ssl, toNetwork)
        self.fromNetwork = fromNetwork
        self.toNetwork = toNetwork
    }

    private static func move(from source: OpaquePointer, to destination: OpaquePointer) {
        let pending = gh_BIO_pending(source)
        guard pending > 0 else { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pending) { bytes in
            let read = BIO_read(source, bytes.baseAddress, Int32(pending))
            let written = BIO_write(destination, bytes.baseAddress, read)
            precondition(read == Int32(pending) && written == read, "moving \(pending) octets between memory BIOs failed")
        }
    }

    /// SNI and certificate name checking for `name`: SANs of type IP for an
    /// address literal, DNS otherwise (no partial wildcards).
    private static func configurePeerName(_ ssl: OpaquePointer, _ name: String) -> TLSError? {
        if Self.isIPAddress(name) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                return TLSError.fromQueue(.configuration("invalid server IP address \(name)"))
            }
            return nil  // RFC 6066: SNI carries host names only
        }
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        guard SSL_set1_host(ssl, name) == 1, gh_SSL_set_tlsext_host_name(ssl, name) == 1 else {
            return TLSError.fromQueue(.configuration("invalid server host name \(name)"))
        }
        return nil
    }

    private static func isIPAddress(_ name: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, name, &buffer) == 1 || inet_pton(AF_INET6, name, &buffer) == 1
    }

    // MARK: - Ciphertext in and out

    /// Hands ciphertext that arrived from the network to OpenSSL.
    func receiveCiphertext(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        let written = buffer.withUnsafeReadableBytes { bytes in
            BIO_write(self.fromNetwork, bytes.baseAddress, Int32(bytes.count))
        }
        precondition(written == buffer.readableBytes, "memory BIO write failed (out of memory)")
    }

    /// Takes everything OpenSSL wants sent, or `nil` if nothing is pending.
    func takeCiphertext(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = gh_BIO_pending(self.toNetwork)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(self.toNetwork, bytes.baseAddress, Int32(pending))))
        }
        return buffer
    }

    // MARK: - Handshake

    /// Advances the handshake with whatever ciphertext has arrived.
    func doHandshake() -> HandshakeOutcome {
        if let setupError = self.setupError {
            return .failed(setupError)
        }
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(self.ssl)
        if result == 1 {
            return .complete
        }
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(self.handshakeError())
        }
    }

    /// Classifies a failed handshake: a certificate that did not verify, or anything else.
    private func handshakeError() -> TLSError {
        let verifyResult = SSL_get_verify_result(self.ssl)
        if verifyResult != Int(X509_V_OK) {
            return TLSError.fromQueue(.certificateVerificationFailed, verificationFailure: verificationReason(Int32(verifyResult)))
        }
        return TLSError.fromQueue(.handshakeFailed)
    }

    /// What the completed handshake negotiated and the peer's identity.
    func handshakeResult() -> TLSHandshakeResult {
        var alpn: UnsafePointer<UInt8>? = nil
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &alpn, &alpnLength)
        let negotiated = alpn.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }
        let version = SSL_get_version(self.ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(self.ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        let peer = SSL_get1_peer_certificate(self.ssl).map { X509Certificate(takingOwnershipOf: $0).identity }
        return TLSHandshakeResult(
            negotiatedProtocol: negotiated,
            protocolVersion: version,
            cipher: cipher,
            sessionReused: SSL_session_reused(self.ssl) == 1,
            peer: peer
        )
    }

    // MARK: - Application data

    /// The most plaintext one TLS record carries.
    private static let maxRecordPlaintext = 16_384

    /// Reads the next chunk of plaintext, if a whole record has arrived.
    ///
    /// Also processes post-handshake messages (TLS 1.3 session tickets, which
    /// is when the session callback fills the client's cache).
    func readPlaintext(allocator: ByteBufferAllocator) -> ReadOutcome {
        // No more plaintext can come out than is decrypted already plus the
        // ciphertext waiting: size the buffer to that, not to a whole record,
        // because what is read may be held (a subscriber's request) for hours.
        let available = Int(SSL_pending(self.ssl)) + gh_BIO_pending(self.fromNetwork)
        guard available > 0 else { return .needMoreCiphertext }
        let capacity = min(available, Self.maxRecordPlaintext)
        var buffer = allocator.buffer(capacity: capacity)
        var result: Int32 = 0
        OpenSSLErrorQueue.clear()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { bytes in
            result = SSL_read(self.ssl, bytes.baseAddress, Int32(bytes.count))
            return Int(max(result, 0))
        }
        if result > 0 {
            return .data(buffer)
        }
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMoreCiphertext
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(TLSError.fromQueue(.io))
        }
    }

    /// Encrypts `plaintext`; the records are then waiting in the outgoing BIO.
    ///
    /// A memory BIO never refuses bytes, so OpenSSL writes everything at once
    /// (as several records when longer than 16 KiB) or fails.
    func writePlaintext(_ plaintext: ByteBuffer) -> Result<Void, TLSError> {
        guard plaintext.readableBytes > 0 else { return .success(()) }
        OpenSSLErrorQueue.clear()
        let result = plaintext.withUnsafeReadableBytes { bytes in
            SSL_write(self.ssl, bytes.baseAddress, Int32(bytes.count))
        }
        if result == plaintext.readableBytes {
            return .success(())
        }
        return .failure(TLSError.fromQueue(.io))
    }

    /// Queues our `close_notify` alert in the outgoing BIO.
    func sendCloseNotify() {
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(self.ssl)
        OpenSSLErrorQueue.clear()  // a shutdown after a peer's fatal alert fails harmlessly
    }
}
