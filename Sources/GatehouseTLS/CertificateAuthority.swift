import COpenSSL

/// A certificate authority that issues Gatehouse's server and client certificates.
///
/// Development and small deployments need a private CA "one command away"
/// (DESIGN.md "Security"); this is that command's engine, in process, on
/// OpenSSL. The CA is an EC P-256 key with a self-signed certificate
/// (basicConstraints CA:TRUE critical, keyUsage keyCertSign and cRLSign).
public struct CertificateAuthority: Sendable {
    /// The CA's own certificate.
    public let certificate: X509Certificate
    /// The CA's signing key.
    public let privateKey: PrivateKey

    /// The CA certificate as PEM (what peers put in their trust bundle).
    public var certificatePEM: String { self.certificate.pemString }
    /// The CA key as unencrypted PKCS#8 PEM.
    public var privateKeyPEM: String { self.privateKey.pemString }

    /// The CA as a certificate/key pair, e.g. to write it to disk.
    public var asIssuedCertificate: IssuedCertificate {
        IssuedCertificate(certificate: self.certificate, privateKey: self.privateKey)
    }

    /// Creates a new CA with a fresh P-256 key.
    ///
    /// - Parameters:
    ///   - commonName: the CA's subject CN, e.g. `Gatehouse Development CA`.
    ///   - organizations: optional O attributes of the CA subject.
    ///   - validityDays: how long the CA certificate is valid; default ten years.
    public static func create(
        commonName: String,
        organizations: [String] = [],
        validityDays: Int = 3650
    ) throws -> CertificateAuthority {
        let key = try PrivateKey.generateP256()
        let builder = CertificateBuilder(
            subject: CertificateSubject(commonName: commonName, organizations: organizations),
            subjectKey: key,
            extensions: [
                .init(nid: NID_basic_constraints, value: "critical,CA:TRUE"),
                .init(nid: NID_key_usage, value: "critical,keyCertSign,cRLSign"),
                .init(nid: NID_subject_key_identifier, value: "hash"),
                .init(nid: NID_authority_key_identifier, value: "keyid:always"),
            ],
            alternativeNames: [],
            validityDays: validityDays,
            backdateSeconds: 300
        )
        let certificate = try builder.sign(issuer: nil)
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Loads an existing CA from PEM texts, checking that the key belongs to
    /// the certificate and that the certificate is a CA.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let certificate = try X509Certificate(pem: certificatePEM)
        let key = try PrivateKey(pem: privateKeyPEM)
        OpenSSLErrorQueue.clear()
        guard X509_check_private_key(certificate.pointer, key.pointer) == 1 else {
            throw TLSError.fromQueue(.configuration("the CA private key does not match the CA certificate"))
        }
        guard certificate.isCertificateAuthority else {
            throw TLSError(.configuration("the certificate \(certificate.subject) is not a CA (basicConstraints CA:TRUE)"))
        }
        self.init(certificate: certificate, privateKey: key)
    }

    /// Loads an existing CA from PEM files; errors name the path.
    public init(certificatePath: String, privateKeyPath: String) throws {
        try self.init(
            certificatePEM: try FileAccess.readText(certificatePath, what: "CA certificate"),
            privateKeyPEM: try FileAccess.readText(privateKeyPath, what: "CA private key")
        )
    }

    private init(certificate: X509Certificate, privateKey: PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Issues a leaf certificate with a fresh P-256 key, signed by this CA.
    ///
    /// - Parameters:
    ///   - kind: `.server` (extendedKeyUsage serverAuth) or `.client` (clientAuth).
    ///   - subject: for clients, CN is the identity and O the role.
    ///   - alternativeNames: servers need their DNS names and IP addresses here
    ///     (clients verify these, not the CN); clients may carry URIs.
    ///   - validityDays: validity length, counted from `notBefore`.
    ///   - backdateSeconds: how far `notBefore` lies in the past (clock skew
    ///     allowance; a large value with a short validity makes an already
    ///     expired certificate, for tests).
    public func issue(
        _ kind: LeafKind,
        subject: CertificateSubject,
        alternativeNames: [SubjectAlternativeName] = [],
        validityDays: Int = 365,
        backdateSeconds: Int = 300
    ) throws -> IssuedCertificate {
        let key = try PrivateKey.generateP256()
        let usage: String
        switch kind {
        case .server: usage = "serverAuth"
        case .client: usage = "clientAuth"
        }
        let builder = CertificateBuilder(
            subject: subject,
            subjectKey: key,
            extensions: [
                .init(nid: NID_basic_constraints, value: "critical,CA:FALSE"),
                .init(nid: NID_key_usage, value: "critical,digitalSignature"),
                .init(nid: NID_ext_key_usage, value: usage),
                .init(nid: NID_subject_key_identifier, value: "hash"),
                .init(nid: NID_authority_key_identifier, value: "keyid:always"),
            ],
            alternativeNames: alternativeNames,
            validityDays: validityDays,
            backdateSeconds: backdateSeconds
        )
        let certificate = try builder.sign(issuer: (self.certificate, self.privateKey))
        return IssuedCertificate(certificate: certificate, privateKey: key)
    }
}
