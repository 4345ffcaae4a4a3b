import Foundation
import GatehouseTLS

/// A throwaway public-key infrastructure in a fresh temporary directory, for tests.
///
/// Every TLS-speaking test needs the same cast: a CA, a server certificate
/// valid for `localhost` and `127.0.0.1`, an admin client, and clients that
/// must be refused (one from a different CA, one expired). Building them
/// through the real issuance API (``CertificateAuthority``) means the tests
/// exercise the same code as `gatehouse certs`, and no private key is ever
/// committed. Call ``remove()`` when done.
public struct TestPKI: Sendable {
    /// A client certificate and key on disk.
    public struct ClientCredentials: Sendable, Hashable {
        /// The subject CN, i.e. the identity the server will see.
        public var commonName: String
        /// PEM certificate file.
        public var certificatePath: String
        /// PEM key file (mode 0600).
        public var keyPath: String
        /// The trust roots this client verifies the server with.
        public var trustRootsPath: String
    }

    /// The temporary directory holding every file; removed by ``remove()``.
    public let directory: String
    /// The CA that signs the server and the accepted clients.
    public let authority: CertificateAuthority
    /// The CA certificate (the trust bundle of both sides).
    public let caCertificatePath: String
    /// The server certificate: CN=localhost, SANs DNS:localhost, IP:127.0.0.1, IP:::1.
    public let serverCertificatePath: String
    /// The server key.
    public let serverKeyPath: String
    /// CN=admin, O=admin, signed by ``authority``.
    public let admin: ClientCredentials
    /// CN=intruder, O=admin, signed by a different CA: the server must refuse it.
    public let foreignClient: ClientCredentials
    /// CN=expired, O=admin, signed by ``authority`` but no longer valid.
    public let expiredClient: ClientCredentials

    /// Creates the directory and every certificate in it.
    public init() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory

        let authority = try CertificateAuthority.create(commonName: "Gatehouse Test CA", validityDays: 30)
        self.authority = authority
        self.caCertificatePath = try authority.asIssuedCertificate.write(toDirectory: directory, name: "ca").certificatePath

        let server = try authority.issue(
            .server,
            subject: CertificateSubject(commonName: "localhost", organizations: ["gatehouse"]),
            alternativeNames: [.dns("localhost"), .ip("127.0.0.1"), .ip("::1")],
            validityDays: 30
        )
        let serverPaths = try server.write(toDirectory: directory, name: "server")
        self.serverCertificatePath = serverPaths.certificatePath
        self.serverKeyPath = serverPaths.keyPath

        self.admin = try Self.issueClient(
            authority, directory: directory, trustRootsPath: self.caCertificatePath,
            subject: CertificateSubject(commonName: "admin", organizations: ["admin"])
        )
        self.expiredClient = try Self.issueClient(
            authority, directory: directory, trustRootsPath: self.caCertificatePath,
            subject: CertificateSubject(commonName: "expired", organizations: ["admin"]),
            validityDays: 1, backdateSeconds: 3 * 86_400
        )
        let otherAuthority = try CertificateAuthority.create(commonName: "Some Other CA", validityDays: 30)
        _ = try otherAuthority.asIssuedCertificate.write(toDirectory: directory, name: "other-ca")
        // The intruder trusts our CA (so it can verify the server) but its own certificate is foreign.
        self.foreignClient = try Self.issueClient(
            otherAuthority, directory: directory, trustRootsPath: self.caCertificatePath,
            subject: CertificateSubject(commonName: "intruder", organizations: ["admin"])
        )
    }

    /// The server's configuration: our server certificate, trusting our CA.
    public var serverConfiguration: TLSConfiguration {
        TLSConfiguration(
            certificateChainPath: self.serverCertificatePath,
            privateKeyPath: self.serverKeyPath,
            trustRootsPath: self.caCertificatePath
        )
    }

    /// A client configuration presenting `credentials` and trusting our CA.
    public func clientConfiguration(for credentials: ClientCredentials) -> TLSConfiguration {
        TLSConfiguration(
            certificateChainPath: credentials.certificatePath,
            privateKeyPath: credentials.keyPath,
            trustRootsPath: credentials.trustRootsPath
        )
    }

    /// Issues one more client certificate from ``authority``, e.g. a component's.
    ///
    /// - Parameters:
    ///   - commonName: the identity (also the file name stem, so keep it unique).
    ///   - role: the O attribute (`admin`, `operator`, `viewer`, `component`).
    public func issueClient(
        commonName: String,
        role: String,
        organizationalUnits: [String] = [],
        uris: [String] = []
    ) throws -> ClientCredentials {
        try Self.issueClient(
            self.authority, directory: self.directory, trustRootsPath: self.caCertificatePath,
            subject: CertificateSubject(commonName: commonName, organizations: [role], organizationalUnits: organizationalUnits),
            alternativeNames: uris.map { .uri($0) }
        )
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    private static func issueClient(
        _ authority: CertificateAuthority,
        directory: String,
        trustRootsPath: String,
        subject: CertificateSubject,
        alternativeNames: [SubjectAlternativeName] = [],
        validityDays: Int = 30,
        backdateSeconds: Int = 300
    ) throws -> ClientCredentials {
        let issued = try authority.issue(
            .client, subject: subject, alternativeNames: alternativeNames,
            validityDays: validityDays, backdateSeconds: backdateSeconds
        )
        let paths = try issued.write(toDirectory: directory, name: "client-\(subject.commonName)")
        return ClientCredentials(
            commonName: subject.commonName,
            certificatePath: paths.certificatePath,
            keyPath: paths.keyPath,
            trustRootsPath: trustRootsPath
        )
    }
}
