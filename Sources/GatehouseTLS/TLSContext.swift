import COpenSSL
import NIOCore

/// An OpenSSL `SSL_CTX` configured for Gatehouse's mutual TLS, shared by
/// every connection of one side.
///
/// Loading certificates, keys, CA bundles and CRLs is slow and can fail, so it
/// happens once, here, and throws a configuration error naming the file;
/// connections then only create cheap `SSL` objects from it. The policy of
/// PROTOCOL.md §1 is fixed in code, not left to the caller: TLS 1.2 minimum,
/// AEAD ciphers only, renegotiation refused, the peer always verified.
///
/// `@unchecked Sendable`: the `SSL_CTX` is fully configured in the factory
/// and never changed afterwards (OpenSSL documents creating `SSL` objects from
/// one `SSL_CTX` on many threads as safe, and its server session cache is
/// locked internally); the only mutable Swift state, the client session
/// cache, is behind its own lock (``ClientSessionCache``).
public final class TLSContext: @unchecked Sendable {
    /// Which end of the connection this context serves.
    public enum Role: Sendable, Hashable {
        case server
        case client
    }

    /// Which end of the connection this context serves.
    public let role: Role
    /// How long a handshake may take (from the configuration).
    public let handshakeTimeout: TimeAmount
    /// The ALPN protocols, most preferred first.
    public let applicationProtocols: [String]

    /// The owned `SSL_CTX*`.
    let sslContext: OpaquePointer
    /// Client only: resumable sessions per peer key.
    let sessionCache: ClientSessionCache?
    /// Server only: the ALPN list in wire format, read by the selection callback.
    private let alpnSelection: ALPNSelection?

    /// TLS 1.2 suites allowed: ECDHE key exchange and AEAD only (PROTOCOL.md §1).
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// TLS 1.3 suites allowed (all of TLS 1.3's are AEAD; CCM variants are left out).
    static let tls13Ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// The `session_id_context` that lets a server resume sessions of verified clients.
    static let sessionIDContext = Array("gatehouse".utf8)

    /// A server context: presents `certificateChainPath`, requires and verifies a client certificate.
    ///
    /// - Throws: ``TLSError`` `.configuration` naming the file or option at fault.
    public static func server(_ configuration: TLSConfiguration) throws -> TLSContext {
        try TLSContext(role: .server, configuration: configuration, presentsCertificate: true)
    }

    /// A client context: presents `certificateChainPath` and verifies the
    /// server against `trustRootsPath` (and its name, per connection).
    ///
    /// - Throws: ``TLSError`` `.configuration` naming the file or option at fault.
    public static func client(_ configuration: TLSConfiguration) throws -> TLSContext {
        try TLSContext(role: .client, configuration: configuration, presentsCertificate: true)
    }

    /// A client context that presents no certificate. The Gatehouse server
    /// refuses such clients; this exists so tests and probing tools can show it.
    /// The certificate and key paths of `configuration` are ignored.
    package static func clientWithoutCertificate(_ configuration: TLSConfiguration) throws -> TLSContext {
        try TLSContext(role: .client, configuration: configuration, presentsCertificate: false)
    }

    private init(role: Role, configuration: TLSConfiguration, presentsCertificate: Bool) throws {
        OpenSSLErrorQueue.clear()
        let method = role == .server ? TLS_server_method() : TLS_client_method()
        guard let context = SSL_CTX_new(method) else {
            throw TLSError.fromQueue(.configuration("cannot create an OpenSSL context"))
        }
        // From here on, `deinit` would not run if we throw, so free by hand on failure.
        do {
            try Self.configureProtocol(context, role: role, configuration: configuration)
            if presentsCertificate {
                try Self.loadIdentity(context, configuration: configuration)
            }
            try Self.configureVerification(context, role: role, configuration: configuration)
            let wire = try ALPNSelection.wireFormat(configuration.applicationProtocols)
            switch role {
            case .server:
                _ = gh_SSL_CTX_set_session_cache_mode(context, gh_SSL_SESS_CACHE_SERVER())
                _ = gh_SSL_CTX_sess_set_cache_size(context, 20_000)
                guard SSL_CTX_set_session_id_context(context, Self.sessionIDContext, UInt32(Self.sessionIDContext.count)) == 1 else {
                    throw TLSError.fromQueue(.configuration("cannot set the session id context"))
                }
                self.sessionCache = nil
                self.alpnSelection = wire.isEmpty ? nil : ALPNSelection(wire: wire)
            case .client:
                _ = gh_SSL_CTX_set_session_cache_mode(context, gh_SSL_SESS_CACHE_CLIENT_NO_INTERNAL())
                SSL_CTX_sess_set_new_cb(context, sessionCallback)
                if !wire.isEmpty {
                    // Inverted convention: SSL_CTX_set_alpn_protos returns 0 on success.
                    guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else {
                        throw TLSError.fromQueue(.configuration("cannot set ALPN protocols \(configuration.applicationProtocols)"))
                    }
                }
                self.sessionCache = ClientSessionCache()
                self.alpnSelection = nil
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.role = role
        self.sslContext = context
        self.handshakeTimeout = configuration.handshakeTimeout
        self.applicationProtocols = configuration.applicationProtocols
        if let selection = self.alpnSelection {
            SSL_CTX_set_alpn_select_cb(context, alpnSelectCallback, Unmanaged.passUnretained(selection).toOpaque())
        }
    }

    deinit {
        SSL_CTX_free(self.sslContext)
    }

    /// Versions, ciphers, options and modes: the protocol policy of PROTOCOL.md §1.
    private static func configureProtocol(_ context: OpaquePointer, role: Role, configuration: TLSConfiguration) throws {
        let minimum: Int32
        switch configuration.minimumVersion {
        case .v1_2: minimum = TLS1_2_VERSION
        case .v1_3: minimum = TLS1_3_VERSION
        }
        guard gh_SSL_CTX_set_min_proto_version(context, minimum) == 1 else {
            throw TLSError.fromQueue(.configuration("cannot set minimum version \(configuration.minimumVersion)"))
        }
        if let maximumVersion = configuration.maximumVersion {
            let maximum: Int32
            switch maximumVersion {
            case .v1_2: maximum = TLS1_2_VERSION
            case .v1_3: maximum = TLS1_3_VERSION
            }
            guard gh_SSL_CTX_set_max_proto_version(context, maximum) == 1 else {
                throw TLSError.fromQueue(.configuration("cannot set maximum version \(maximumVersion)"))
            }
        }
        guard SSL_CTX_set_cipher_list(context, tls12Ciphers) == 1,
              SSL_CTX_set_ciphersuites(context, tls13Ciphersuites) == 1
        else {
            throw TLSError.fromQueue(.configuration("cannot set the AEAD cipher lists"))
        }
        guard gh_SSL_CTX_set1_groups_list(context, "X25519:P-256:P-384") == 1 else {
            throw TLSError.fromQueue(.configuration("cannot set key exchange groups"))
        }
        var options = gh_SSL_OP_NO_RENEGOTIATION() | gh_SSL_OP_NO_COMPRESSION()
        if role == .server {
            options |= gh_SSL_OP_CIPHER_SERVER_PREFERENCE()
            // One TLS 1.3 ticket per handshake (OpenSSL sends two): a client resumes with one,
            // and each costs an encryption and a record.
            _ = SSL_CTX_set_num_tickets(context, 1)
        }
        _ = gh_SSL_CTX_set_options(context, options)
        // The handler may hand SSL_write a different buffer address on retry,
        // and idle connections should not pin 2 × 16 KiB of OpenSSL buffers.
        _ = gh_SSL_CTX_set_mode(context, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
    }

    /// Our certificate chain and key, checked to belong together.
    private static func loadIdentity(_ context: OpaquePointer, configuration: TLSConfiguration) throws {
        let chainPath = configuration.certificateChainPath
        let keyPath = configuration.privateKeyPath
        try FileAccess.checkReadable(chainPath, what: "certificate chain")
        try FileAccess.checkReadable(keyPath, what: "private key")
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_certificate_chain_file(context, chainPath) == 1 else {
            throw TLSError.fromQueue(.configuration("no usable PEM certificate chain in \(chainPath)"))
        }
        // Load the key ourselves so "not a key" and "not this certificate's key" are told apart.
        let key: PrivateKey
        do {
            key = try PrivateKey(pem: try FileAccess.readText(keyPath, what: "private key"))
        } catch let error as TLSError {
            throw TLSError(.configuration("no usable unencrypted PEM private key in \(keyPath)"), openSSLErrors: error.openSSLErrors)
        }
        OpenSSLErrorQueue.clear()
        guard let leaf = SSL_CTX_get0_certificate(context), X509_check_private_key(leaf, key.pointer) == 1 else {
            throw TLSError.fromQueue(.configuration("the private key in \(keyPath) does not match the certificate in \(chainPath)"))
        }
        guard SSL_CTX_use_PrivateKey(context, key.pointer) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.fromQueue(.configuration("cannot use the private key in \(keyPath)"))
        }
    }

    /// Trust roots, optional CRL, and the always-verify-the-peer rule.
    private static func configureVerification(_ context: OpaquePointer, role: Role, configuration: TLSConfiguration) throws {
        let rootsPath = configuration.trustRootsPath
        try FileAccess.checkReadable(rootsPath, what: "trust roots")
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_load_verify_locations(context, rootsPath, nil) == 1 else {
            throw TLSError.fromQueue(.configuration("no usable PEM CA certificates in \(rootsPath)"))
        }
        switch role {
        case .server:
            // Tell clients which CAs we accept, so one with several identities picks the right one.
            if let names = SSL_load_client_CA_file(rootsPath) {
                SSL_CTX_set_client_CA_list(context, names)
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        case .client:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        if let crlPath = configuration.crlPath {
            try loadRevocationList(context, path: crlPath)
        }
        OpenSSLErrorQueue.clear()
    }

    /// Adds every CRL in the PEM file at `path` and turns on CRL checking of the peer's certificate.
    ///
    /// With `X509_V_FLAG_CRL_CHECK` OpenSSL then requires a CRL from the
    /// issuer of every peer certificate: a CA whose CRL is missing fails
    /// verification ("unable to get certificate CRL"), which is the safe way round.
    private static func loadRevocationList(_ context: OpaquePointer, path: String) throws {
        let text = try FileAccess.readText(path, what: "certificate revocation list")
        guard let store = SSL_CTX_get_cert_store(context) else {
            throw TLSError.fromQueue(.configuration("no certificate store"))
        }
        let count: Int = try MemoryBIO.withReadable(text) { bio in
            var count = 0
            while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) {
                defer { X509_CRL_free(crl) }
                guard X509_STORE_add_crl(store, crl) == 1 else {
                    throw TLSError.fromQueue(.configuration("cannot add a CRL from \(path)"))
                }
                count += 1
            }
            return count
        }
        guard count > 0 else {
            throw TLSError.fromQueue(.configuration("no PEM CRL in \(path)"))
        }
        OpenSSLErrorQueue.clear()  // the loop ends on a "no start line" entry
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
    }

    /// Whether a resumable session is cached for `key` (client contexts).
    package func hasCachedSession(for key: String) -> Bool {
        self.sessionCache?.hasSession(for: key) ?? false
    }
}

/// The server's ALPN list in wire format (length-prefixed ids), owned at a
/// stable address because OpenSSL's selection callback points into it.
final class ALPNSelection {
    let wire: UnsafeMutableBufferPointer<UInt8>

    init(wire: [UInt8]) {
        self.wire = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: wire.count)
        _ = self.wire.initialize(from: wire)
    }

    deinit {
        self.wire.deallocate()
    }

    /// Encodes protocol ids as ALPN's wire format; each must be 1…255 bytes.
    static func wireFormat(_ protocols: [String]) throws -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(.configuration("ALPN protocol id \"\(name)\" must be 1 to 255 bytes"))
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }
}

/// Server-side ALPN selection (`SSL_CTX_set_alpn_select_cb`).
///
/// Picks our most preferred protocol the client also offers. A client that
/// offers ALPN without any of ours is refused with a fatal
/// `no_application_protocol` alert (PROTOCOL.md §1); a client offering no
/// ALPN at all never reaches this callback and is accepted.
func alpnSelectCallback(
    _ ssl: OpaquePointer?,
    _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?,
    _ offered: UnsafePointer<UInt8>?,
    _ offeredLength: UInt32,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let out, let outLength, let offered, let argument else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let selection = Unmanaged<ALPNSelection>.fromOpaque(argument).takeUnretainedValue()
    var chosen: UnsafeMutablePointer<UInt8>? = nil
    let outcome = SSL_select_next_proto(
        &chosen, outLength,
        selection.wire.baseAddress, UInt32(selection.wire.count),
        offered, offeredLength
    )
    guard outcome == OPENSSL_NPN_NEGOTIATED, let chosen else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    out.pointee = UnsafePointer(chosen)
    return SSL_TLSEXT_ERR_OK
}
