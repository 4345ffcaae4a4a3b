import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One X.509 certificate, owned by Swift.
///
/// Wraps OpenSSL's reference-counted `X509*` so that the handshake code (the
/// peer's identity), the issuance code (signing, PEM output) and the tests
/// (checking what was issued) share one parser and free it exactly once.
///
/// `@unchecked Sendable`: the certificate is never mutated after it is
/// constructed, and OpenSSL 3 makes read-only use of an `X509` safe from
/// several threads (its lazily computed extension cache is locked internally).
public final class X509Certificate: @unchecked Sendable {
    /// The owned `X509*`; one reference belongs to this object.
    let pointer: OpaquePointer

    /// Takes over one reference to `pointer`.
    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_free(self.pointer)
    }

    /// Parses the first certificate of a PEM text.
    public convenience init(pem: String) throws {
        let parsed: OpaquePointer = try MemoryBIO.withReadable(pem) { bio in
            OpenSSLErrorQueue.clear()
            guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
                throw TLSError.fromQueue(.configuration("not a PEM certificate"))
            }
            return certificate
        }
        self.init(takingOwnershipOf: parsed)
    }

    /// Parses every certificate of a PEM text, in order (a chain or a CA bundle).
    ///
    /// - Throws: a configuration error if the text holds no certificate at all.
    public static func all(pem: String) throws -> [X509Certificate] {
        let certificates: [X509Certificate] = try MemoryBIO.withReadable(pem) { bio in
            OpenSSLErrorQueue.clear()
            var certificates: [X509Certificate] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(X509Certificate(takingOwnershipOf: certificate))
            }
            OpenSSLErrorQueue.clear()  // the loop ends on a "no start line" entry
            return certificates
        }
        guard !certificates.isEmpty else { throw TLSError(.configuration("no PEM certificate found")) }
        return certificates
    }

    /// Reads and parses the first certificate of the PEM file at `path`.
    public convenience init(pemFile path: String) throws {
        let text = try FileAccess.readText(path, what: "certificate")
        do {
            try self.init(pem: text)
        } catch let error as TLSError {
            throw TLSError(.configuration("no PEM certificate in \(path)"), openSSLErrors: error.openSSLErrors)
        }
    }

    /// The certificate in PEM form (`-----BEGIN CERTIFICATE-----`).
    public var pemString: String {
        (try? MemoryBIO.withWritable { bio in
            PEM_write_bio_X509(bio, self.pointer)
            return MemoryBIO.readString(bio)
        }) ?? ""
    }

    /// The certificate's DER encoding.
    public var derBytes: [UInt8] {
        let length = i2d_X509(self.pointer, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            _ = i2d_X509(self.pointer, &cursor)
        }
        return bytes
    }

    /// SHA-256 of the DER encoding, lowercase hex without separators.
    public var fingerprintSHA256: String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { X509_digest(self.pointer, EVP_sha256(), $0.baseAddress, &length) }
        guard ok == 1 else { return "" }
        return Hex.encode(digest.prefix(Int(length)))
    }

    /// The serial number as lowercase hex.
    public var serialNumberHex: String {
        guard let serial = X509_get0_serialNumber(self.pointer),
              let number = ASN1_INTEGER_to_BN(serial, nil)
        else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { gh_OPENSSL_free(hex) }
        return String(cString: hex).lowercased()
    }

    /// The subject in RFC 2253 form, most specific attribute first (`CN=admin,O=admin`).
    public var subject: String {
        Self.rfc2253(X509_get_subject_name(self.pointer))
    }

    /// The issuer in RFC 2253 form.
    public var issuer: String {
        Self.rfc2253(X509_get_issuer_name(self.pointer))
    }

    /// Whether the certificate may sign other certificates (basicConstraints CA:TRUE).
    public var isCertificateAuthority: Bool {
        X509_check_ca(self.pointer) != 0
    }

    /// The extended key usages this certificate is limited to; empty if it has no such extension.
    public var extendedKeyUsage: ExtendedKeyUsage {
        let flags = X509_get_extended_key_usage(self.pointer)
        // Without the extension OpenSSL reports "everything" (UINT32_MAX); report nothing instead.
        guard X509_get_extension_flags(self.pointer) & UInt32(EXFLAG_XKUSAGE) != 0 else { return [] }
        var usage: ExtendedKeyUsage = []
        if flags & UInt32(XKU_SSL_SERVER) != 0 { usage.insert(.serverAuth) }
        if flags & UInt32(XKU_SSL_CLIENT) != 0 { usage.insert(.clientAuth) }
        return usage
    }

    /// Start of validity, in seconds since the Unix epoch.
    public var notValidBefore: Int {
        Self.unixTime(X509_get0_notBefore(self.pointer))
    }

    /// End of validity, in seconds since the Unix epoch.
    public var notValidAfter: Int {
        Self.unixTime(X509_get0_notAfter(self.pointer))
    }

    /// Whether the certificate's signature verifies with `issuer`'s public key.
    public func isSigned(by issuer: X509Certificate) -> Bool {
        OpenSSLErrorQueue.clear()
        defer { OpenSSLErrorQueue.clear() }
        guard let key = X509_get0_pubkey(issuer.pointer) else { return false }
        return X509_verify(self.pointer, key) == 1
    }

    /// Verifies the certificate chains to one of `trustRoots` and is valid now.
    ///
    /// The same check a TLS peer makes (minus hostname and revocation), for
    /// tools and tests that want to know before a handshake fails.
    /// - Throws: ``TLSError`` of kind `.certificateVerificationFailed` with OpenSSL's reason.
    public func verify(trustRoots: [X509Certificate]) throws {
        OpenSSLErrorQueue.clear()
        guard let store = X509_STORE_new() else { throw TLSError.fromQueue(.certificateVerificationFailed) }
        defer { X509_STORE_free(store) }
        for root in trustRoots {
            X509_STORE_add_cert(store, root.pointer)
        }
        guard let context = X509_STORE_CTX_new() else { throw TLSError.fromQueue(.certificateVerificationFailed) }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, self.pointer, nil) == 1 else {
            throw TLSError.fromQueue(.certificateVerificationFailed)
        }
        if X509_verify_cert(context) != 1 {
            let code = X509_STORE_CTX_get_error(context)
            throw TLSError.fromQueue(.certificateVerificationFailed, verificationFailure: verificationReason(code))
        }
    }

    /// The identity Gatehouse authorizes on: subject attributes, SANs and fingerprint.
    public var identity: TLSPeerIdentity {
        var commonNames: [String] = []
        var organizations: [String] = []
        var units: [String] = []
        if let name = X509_get_subject_name(self.pointer) {
            for index in 0..<X509_NAME_entry_count(name) {
                guard let entry = X509_NAME_get_entry(name, index),
                      let value = Self.utf8(X509_NAME_ENTRY_get_data(entry))
                else { continue }
                switch OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry)) {
                case NID_commonName: commonNames.append(value)
                case NID_organizationName: organizations.append(value)
                case NID_organizationalUnitName: units.append(value)
                default: continue
                }
            }
        }
        var identity = TLSPeerIdentity(
            commonName: commonNames.first,
            organizations: organizations,
            organizationalUnits: units,
            fingerprintSHA256: self.fingerprintSHA256,
            subject: self.subject
        )
        for name in self.subjectAlternativeNames {
            switch name {
            case .dns(let value): identity.dnsNames.append(value)
            case .uri(let value): identity.uris.append(value)
            case .ip(let value): identity.ipAddresses.append(value)
            case .email(let value): identity.emails.append(value)
            }
        }
        return identity
    }

    /// The subject alternative names of the kinds Gatehouse uses, in certificate order.
    public var subjectAlternativeNames: [SubjectAlternativeName] {
        guard let raw = X509_get_ext_d2i(self.pointer, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { gh_GENERAL_NAMES_free(names) }
        var result: [SubjectAlternativeName] = []
        for index in 0..<gh_sk_GENERAL_NAME_num(names) {
            guard let name = gh_sk_GENERAL_NAME_value(names, index) else { continue }
            var type: Int32 = 0
            guard let value = GENERAL_NAME_get0_value(name, &type) else { continue }
            let string = value.assumingMemoryBound(to: ASN1_STRING.self)
            switch type {
            case GEN_DNS: result.append(.dns(Self.ascii(string)))
            case GEN_URI: result.append(.uri(Self.ascii(string)))
            case GEN_EMAIL: result.append(.email(Self.ascii(string)))
            case GEN_IPADD:
                if let address = Self.ipAddress(string) { result.append(.ip(address)) }
            default: continue
            }
        }
        return result
    }

    // MARK: - Conversions

    static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        return (try? MemoryBIO.withWritable { bio in
            X509_NAME_print_ex(bio, name, 0, gh_XN_FLAG_RFC2253())
            return MemoryBIO.readString(bio)
        }) ?? ""
    }

    /// Any ASN.1 string type, converted to UTF-8 by OpenSSL.
    static func utf8(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let string else { return nil }
        var output: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&output, string)
        guard length >= 0, let output else { return nil }
        defer { gh_OPENSSL_free(output) }
        return String(decoding: UnsafeBufferPointer(start: output, count: Int(length)), as: UTF8.self)
    }

    /// An IA5String (DNS, URI, email SANs): bytes as they are.
    static func ascii(_ string: UnsafePointer<ASN1_STRING>) -> String {
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// An iPAddress SAN (4 or 16 octets) in its usual text form.
    static func ipAddress(_ string: UnsafePointer<ASN1_STRING>) -> String? {
        let length = Int(ASN1_STRING_length(string))
        guard let data = ASN1_STRING_get0_data(string) else { return nil }
        let family: Int32
        switch length {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(family, data, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func unixTime(_ time: UnsafePointer<ASN1_TIME>?) -> Int {
        guard let time else { return 0 }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int(timegm(&parts))
    }
}

/// OpenSSL's text for a verification result code, with the code (`certificate has expired (10)`).
func verificationReason(_ code: Int32) -> String {
    "\(String(cString: X509_verify_cert_error_string(Int(code)))) (\(code))"
}

/// The extended key usages Gatehouse issues and checks.
public struct ExtendedKeyUsage: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// TLS server authentication (`id-kp-serverAuth`).
    public static let serverAuth = ExtendedKeyUsage(rawValue: 1 << 0)
    /// TLS client authentication (`id-kp-clientAuth`).
    public static let clientAuth = ExtendedKeyUsage(rawValue: 1 << 1)
}

/// Lowercase hexadecimal, for fingerprints.
enum Hex {
    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
