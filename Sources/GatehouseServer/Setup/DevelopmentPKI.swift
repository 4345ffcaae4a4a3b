import Foundation
import GatehouseRPC
import GatehouseTLS
import Logging
import Yams

/// The certificates a development server needs, laid out as kubeadm does:
/// `<data-dir>/pki/{ca,server,admin}.{crt,key}` and `<data-dir>/admin.conf`.
///
/// Created once; later starts reuse what is there and only fill in what is
/// missing, so a developer's admin credentials survive restarts. Nothing is
/// rewritten that has not changed (see ``PrivateFile``).
public struct DevelopmentPKI: Sendable {
    public let directory: String
    public var caCertificate: String { "\(self.directory)/ca.crt" }
    public var caKey: String { "\(self.directory)/ca.key" }
    public var serverCertificate: String { "\(self.directory)/server.crt" }
    public var serverKey: String { "\(self.directory)/server.key" }
    public var adminCertificate: String { "\(self.directory)/admin.crt" }
    public var adminKey: String { "\(self.directory)/admin.key" }
    /// The client config for the admin certificate.
    public let adminConfig: String

    /// The identity and role of the development admin certificate.
    public static let adminIdentity = CertificateSubject(commonName: "admin", organizations: ["admin"])

    public init(dataDirectory: String) {
        let root = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.directory = "\(root)/pki"
        self.adminConfig = "\(root)/admin.conf"
    }

    /// The server side of TLS with these files.
    public var serverFiles: GatehouseServerConfiguration.TLSFiles {
        .init(certificateChain: self.serverCertificate, privateKey: self.serverKey, clientCA: self.caCertificate)
    }

    /// Creates whatever is missing; returns what it created, for the log.
    ///
    /// Each key is written before its certificate, and the certificate's
    /// presence is what later starts test, so a start interrupted between
    /// the two (a crash, a full disk) issues the pair again instead of
    /// failing on a certificate without its key. Keys are 0600; certificates
    /// 0644, because they are public (every handshake sends them) and a
    /// client process of another user may need to read `ca.crt`; the `pki`
    /// directory itself is 0700 unless an operator widened it.
    ///
    /// - Parameter host: the server certificate always names localhost,
    ///   127.0.0.1 and ::1, plus `host`.
    @discardableResult
    public func ensure(host: String, logger: Logger) throws -> [String] {
        try PrivateFile.createDirectory(self.directory, mode: 0o700)
        var created: [String] = []
        let ca: CertificateAuthority
        if FileManager.default.fileExists(atPath: self.caCertificate) {
            ca = try CertificateAuthority(certificatePath: self.caCertificate, privateKeyPath: self.caKey)
        } else {
            ca = try CertificateAuthority.create(commonName: "Gatehouse Development CA")
            try Self.write(ca.asIssuedCertificate, certificate: self.caCertificate, key: self.caKey)
            created.append(self.caCertificate)
        }
        if !FileManager.default.fileExists(atPath: self.serverCertificate) {
            var names: [SubjectAlternativeName] = [.dns("localhost"), .ip("127.0.0.1"), .ip("::1")]
            if !["localhost", "127.0.0.1", "::1", "0.0.0.0", "::"].contains(host) {
                names.append(Self.isIPAddress(host) ? .ip(host) : .dns(host))
            }
            let server = try ca.issue(.server, subject: CertificateSubject(commonName: "gatehouse"), alternativeNames: names)
            try Self.write(server, certificate: self.serverCertificate, key: self.serverKey)
            created.append(self.serverCertificate)
        }
        if !FileManager.default.fileExists(atPath: self.adminCertificate) {
            let admin = try ca.issue(.client, subject: Self.adminIdentity)
            try Self.write(admin, certificate: self.adminCertificate, key: self.adminKey)
            created.append(self.adminCertificate)
        }
        for path in created {
            logger.info("created development certificate", metadata: ["path": "\(path)"])
        }
        return created
    }

    /// Makes admin.conf name the address the server listens on; writes only when that changes.
    ///
    /// - Returns: whether the file was written.
    @discardableResult
    public func writeAdminConfig(host: String, port: Int) throws -> Bool {
        let connectHost: String
        switch host {
        case "0.0.0.0": connectHost = "127.0.0.1"
        case "::": connectHost = "::1"
        default: connectHost = host
        }
        let server = connectHost.contains(":") ? "[\(connectHost)]:\(port)" : "\(connectHost):\(port)"
        let config = ClientConfig(server: server, ca: self.caCertificate, certificate: self.adminCertificate, key: self.adminKey)
        let yaml = "# Written by gatehouse serve: the development admin's client config.\n" + (try YAMLEncoder().encode(config))
        return try PrivateFile.write(yaml, to: self.adminConfig, mode: 0o600)
    }

    /// Key first, then certificate, each atomically.
    private static func write(_ issued: IssuedCertificate, certificate: String, key: String) throws {
        try PrivateFile.write(issued.privateKeyPEM, to: key, mode: 0o600)
        try PrivateFile.write(issued.certificatePEM, to: certificate, mode: 0o644)
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}
