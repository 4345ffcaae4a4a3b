import ArgumentParser
import Foundation
import GatehouseServer
import GatehouseTLS

/// `gatehouse certs`: issue a CA and certificates in-process, through OpenSSL.
struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue a CA, server and client certificates (EC P-256, through OpenSSL).",
        discussion: """
            A client certificate's subject carries the caller's identity (CN) and role (O),
            which authorization reads. Private keys are written with mode 0600 and never
            overwritten unless --force is given.

            Examples:
              gatehouse certs ca --out-dir pki
              gatehouse certs server --ca-dir pki --out-dir pki --name gatehouse --dns gatehouse.example --ip 10.0.0.5
              gatehouse certs client --ca-dir pki --out-dir pki --name kubelet --role component
              gatehouse certs client --ca-dir gatehouse-data/pki --out-dir alice --name alice --role operator \
                  --server gatehouse.example:7443
            """,
        subcommands: [CA.self, Server.self, Client.self]
    )

    /// Where the CA is read from and where the new files go.
    struct Locations: ParsableArguments {
        @Option(help: "Directory holding ca.crt and ca.key.")
        var caDir: String

        @Option(help: "Directory to write NAME.crt and NAME.key into.")
        var outDir: String

        @Flag(help: "Replace existing files.")
        var force = false

        @Option(help: "Validity in days.")
        var days = 365

        /// - Returns: the certificate's and key's paths.
        @discardableResult
        func issue(_ kind: LeafKind, name: String, subject: CertificateSubject, alternativeNames: [SubjectAlternativeName]) throws -> (certificate: String, key: String) {
            let ca = try CertificateAuthority(certificatePath: "\(self.caDir)/ca.crt", privateKeyPath: "\(self.caDir)/ca.key")
            try FileManager.default.createDirectory(atPath: self.outDir, withIntermediateDirectories: true)
            let issued = try ca.issue(kind, subject: subject, alternativeNames: alternativeNames, validityDays: self.days)
            let certificate = "\(self.outDir)/\(name).crt"
            let key = "\(self.outDir)/\(name).key"
            try issued.write(certificateTo: certificate, keyTo: key, overwrite: self.force)
            print("wrote \(certificate) and \(key)")
            print("subject: \(issued.certificate.subject)")
            return (certificate, key)
        }
    }

    struct CA: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a certificate authority: ca.crt and ca.key.")

        @Option(help: "Directory to write ca.crt and ca.key into.")
        var outDir: String

        @Option(help: "The CA's common name.")
        var name = "Gatehouse CA"

        @Option(help: "Validity in days.")
        var days = 3650

        @Flag(help: "Replace existing files.")
        var force = false

        func run() throws {
            try FileManager.default.createDirectory(atPath: self.outDir, withIntermediateDirectories: true)
            let ca = try CertificateAuthority.create(commonName: self.name, validityDays: self.days)
            try ca.asIssuedCertificate.write(certificateTo: "\(self.outDir)/ca.crt", keyTo: "\(self.outDir)/ca.key", overwrite: self.force)
            print("wrote \(self.outDir)/ca.crt and \(self.outDir)/ca.key")
        }
    }

    struct Server: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a server certificate (serverAuth) with DNS and IP names.")

        @OptionGroup var locations: Locations

        @Option(help: "File name and subject CN.")
        var name = "server"

        @Option(help: "A DNS name clients use to reach the server (repeatable).")
        var dns: [String] = ["localhost"]

        @Option(help: "An IP address clients use to reach the server (repeatable).")
        var ip: [String] = ["127.0.0.1", "::1"]

        func run() throws {
            let names = self.dns.map(SubjectAlternativeName.dns) + self.ip.map(SubjectAlternativeName.ip)
            try self.locations.issue(.server, name: self.name, subject: CertificateSubject(commonName: self.name), alternativeNames: names)
        }
    }

    struct Client: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a client certificate (clientAuth): identity in CN, role in O; and a client config for it.",
            discussion: """
                Besides NAME.crt and NAME.key it writes NAME.conf, the client config gatectl
                (--config, or $GATEHOUSE_CONFIG) and the SDK read: the server address
                (--server), the CA (ca.crt of --ca-dir), the certificate and the key. The
                certificate and key are named relative to the config, so the out dir can move
                as a whole; the CA by its absolute path unless it is in the out dir too.
                """
        )

        @OptionGroup var locations: Locations

        @Option(help: "The identity: subject CN and file name, e.g. kubelet or alice.")
        var name: String

        @Option(help: "The role, written as subject O: admin, operator, viewer or component.")
        var role: String

        @Option(help: "Subject OU (repeatable), e.g. a team.")
        var ou: [String] = []

        @Option(help: "A SAN URI (repeatable), e.g. spiffe://cluster/ns/kube-system/sa/kubelet.")
        var uri: [String] = []

        @Option(help: "The server address written into NAME.conf, HOST:PORT.")
        var server = "127.0.0.1:7443"

        func validate() throws {
            guard ["admin", "operator", "viewer", "component"].contains(self.role) else {
                throw ValidationError("--role must be admin, operator, viewer or component, not \"\(self.role)\"")
            }
        }

        func run() throws {
            let config = "\(self.locations.outDir)/\(self.name).conf"
            // Refused before anything is issued: a run that fails leaves no half.
            if !self.locations.force, FileManager.default.fileExists(atPath: config) {
                throw ValidationError("\(config) exists; pass --force to replace it")
            }
            let subject = CertificateSubject(commonName: self.name, organizations: [self.role], organizationalUnits: self.ou)
            try self.locations.issue(.client, name: self.name, subject: subject, alternativeNames: self.uri.map(SubjectAlternativeName.uri))
            let outDir = URL(fileURLWithPath: self.locations.outDir).standardizedFileURL.path
            let caDir = URL(fileURLWithPath: self.locations.caDir).standardizedFileURL.path
            try ClientConfigFile.write(
                server: self.server,
                ca: caDir == outDir ? "ca.crt" : "\(caDir)/ca.crt",
                certificate: "\(self.name).crt",
                key: "\(self.name).key",
                to: config,
                overwrite: self.locations.force,
                comment: "Written by gatehouse certs client: \(self.name) (role \(self.role)) at \(self.server)."
            )
            print("wrote \(config): the client config for it (server \(self.server))")
            print("use it: gatectl --config \(config) info    (or export GATEHOUSE_CONFIG=\(config))")
        }
    }
}
