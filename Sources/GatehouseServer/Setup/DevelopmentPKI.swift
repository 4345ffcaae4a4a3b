import Foundation
import GatehouseRPC
import GatehouseTLS
import Logging
import Yams

/// The certificates a development server needs, laid out as kubeadm does:
/// `<data-dir>/pki/{ca,server,admin}.{crt,key}` and `<data-dir>/admin.conf`.
///
/// Created once; later starts reuse what is there and only fill in what is
/// missing, so a developer's admin credentials survive restarts.
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
    /// - Parameter listen: the address written into admin.conf; the server
    ///   certificate always names localhost, 127.0.0.1 and ::1, plus `host`.
    @discardableResult
    public func ensure(host: String, port: Int, logger: Logger) throws -> [String] {
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var created: [String] = []
        let ca: CertificateAuthority
        if FileManager.default.fileExists(atPath: self.caCertificate) {
            ca = try CertificateAuthority(certificatePath: self.caCertificate, privateKeyPath: self.caKey)
        } else {
            ca = try CertificateAuthority.create(commonName: "Gatehouse Development CA")
            try ca.asIssuedCertificate.write(certificateTo: self.caCertificate, keyTo: self.caKey)
            created.append(self.caCertificate)
        }
        if !FileManager.default.fileExists(atPath: self.serverCertificate) {
            var names: [SubjectAlternativeName] = [.dns("localhost"), .ip("127.0.0.1"), .ip("::1")]
            if !["localhost", "127.0.0.1", "::1", "0.0.0.0", "::"].contains(host) {
                names.append(Self.isIPAddress(host) ? .ip(host) : .dns(host))
            }
            let server = try ca.issue(.server, subject: CertificateSubject(commonName: "gatehouse"), alternativeNames: names)
            try server.write(certificateTo: self.serverCertificate, keyTo: self.serverKey)
            created.append(self.serverCertificate)
        }
        if !FileManager.default.fileExists(atPath: self.adminCertificate) {
            let admin = try ca.issue(.client, subject: Self.adminIdentity)
            try admin.write(certificateTo: self.adminCertificate, keyTo: self.adminKey)
            created.append(self.adminCertificate)
        }
        try self.writeAdminConfig(host: host, port: port)
        for path in created {
            logger.info("created development certificate", metadata: ["path": "\(path)"])
        }
        return created
    }

    /// Writes admin.conf for the address the server listens on.
    public func writeAdminConfig(host: String, port: Int) throws {
        let connectHost: String
        switch host {
        case "0.0.0.0": connectHost = "127.0.0.1"
        case "::": connectHost = "::1"
        default: connectHost = host
        }
        let server = connectHost.contains(":") ? "[\(connectHost)]:\(port)" : "\(connectHost):\(port)"
        let config = ClientConfig(server: server, ca: self.caCertificate, certificate: self.adminCertificate, key: self.adminKey)
        let yaml = "# Written by gatehouse serve: the development admin's client config.\n" + (try YAMLEncoder().encode(config))
        try yaml.write(toFile: self.adminConfig, atomically: true, encoding: .utf8)
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}
