import Foundation
import GatehouseTLS
import GatehouseTestUtils
import Testing

/// In-process issuance: what `gatehouse certs` and the dev-mode bootstrap produce.
@Suite("Certificate issuance")
struct CertificateIssuanceTests {
    @Test("a new CA is a self-signed P-256 CA certificate")
    func certificateAuthority() throws {
        let ca = try CertificateAuthority.create(commonName: "Gatehouse Test CA", validityDays: 10)
        #expect(ca.certificate.isCertificateAuthority)
        #expect(ca.certificate.subject == "CN=Gatehouse Test CA")
        #expect(ca.certificate.issuer == ca.certificate.subject)
        #expect(ca.certificate.isSigned(by: ca.certificate))
        try ca.certificate.verify(trustRoots: [ca.certificate])
        #expect(ca.certificate.notValidAfter - ca.certificate.notValidBefore == 10 * 86_400)
        #expect(ca.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(ca.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))

        // A bundle of several certificates parses in order.
        let other = try CertificateAuthority.create(commonName: "Other", validityDays: 1)
        let bundle = try X509Certificate.all(pem: ca.certificatePEM + other.certificatePEM)
        #expect(bundle.map(\.subject) == ["CN=Gatehouse Test CA", "CN=Other"])
        #expect(throws: TLSError.self) { try X509Certificate.all(pem: "not pem") }

        // It can be loaded back from its PEM texts.
        let reloaded = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        #expect(reloaded.certificate.fingerprintSHA256 == ca.certificate.fingerprintSHA256)
    }

    @Test("loading a CA whose key does not match its certificate fails")
    func mismatchedCAKey() throws {
        let one = try CertificateAuthority.create(commonName: "One", validityDays: 1)
        let two = try CertificateAuthority.create(commonName: "Two", validityDays: 1)
        #expect(throws: TLSError.self) {
            try CertificateAuthority(certificatePEM: one.certificatePEM, privateKeyPEM: two.privateKeyPEM)
        }
    }

    @Test("a server certificate carries serverAuth and its DNS and IP SANs, and verifies against its CA only")
    func serverCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "CA", validityDays: 10)
        let issued = try ca.issue(
            .server,
            subject: CertificateSubject(commonName: "gatehouse.local"),
            alternativeNames: [.dns("gatehouse.local"), .dns("localhost"), .ip("127.0.0.1"), .ip("::1")],
            validityDays: 5
        )
        let certificate = try X509Certificate(pem: issued.certificatePEM)
        #expect(certificate.isCertificateAuthority == false)
        #expect(certificate.extendedKeyUsage == [.serverAuth])
        #expect(certificate.subjectAlternativeNames == [.dns("gatehouse.local"), .dns("localhost"), .ip("127.0.0.1"), .ip("::1")])
        #expect(certificate.issuer == "CN=CA")
        #expect(certificate.isSigned(by: ca.certificate))
        try certificate.verify(trustRoots: [ca.certificate])
        #expect(certificate.notValidAfter - certificate.notValidBefore == 5 * 86_400)

        let now = Int(Date().timeIntervalSince1970)
        #expect(certificate.notValidBefore < now)
        #expect(certificate.notValidBefore > now - 3_600)

        let stranger = try CertificateAuthority.create(commonName: "Stranger", validityDays: 1)
        #expect(certificate.isSigned(by: stranger.certificate) == false)
        let error = try #require(throws: TLSError.self) { try certificate.verify(trustRoots: [stranger.certificate]) }
        #expect(error.kind == .certificateVerificationFailed)
    }

    @Test("a client certificate carries clientAuth, CN = identity, O = role, OU and URI SANs")
    func clientCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "CA", validityDays: 10)
        let issued = try ca.issue(
            .client,
            subject: CertificateSubject(commonName: "kube-scheduler", organizations: ["component"], organizationalUnits: ["control-plane"]),
            alternativeNames: [.uri("spiffe://cluster.local/ns/kube-system/sa/kube-scheduler"), .email("ops@example.com")]
        )
        let certificate = issued.certificate
        #expect(certificate.extendedKeyUsage == [.clientAuth])
        let identity = certificate.identity
        #expect(identity.commonName == "kube-scheduler")
        #expect(identity.organizations == ["component"])
        #expect(identity.organizationalUnits == ["control-plane"])
        #expect(identity.uris == ["spiffe://cluster.local/ns/kube-system/sa/kube-scheduler"])
        #expect(identity.emails == ["ops@example.com"])
        #expect(identity.dnsNames.isEmpty)
        #expect(identity.subject == "CN=kube-scheduler,OU=control-plane,O=component")
        try certificate.verify(trustRoots: [ca.certificate])
    }

    @Test("serials are random 128-bit values")
    func randomSerials() throws {
        let ca = try CertificateAuthority.create(commonName: "CA", validityDays: 1)
        let subject = CertificateSubject(commonName: "same")
        let one = try ca.issue(.client, subject: subject).certificate.serialNumberHex
        let two = try ca.issue(.client, subject: subject).certificate.serialNumberHex
        #expect(one.count == 32)
        #expect(two.count == 32)
        #expect(one != two)
    }

    @Test("an expired certificate fails verification with OpenSSL's reason")
    func expiredCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "CA", validityDays: 10)
        let issued = try ca.issue(.client, subject: CertificateSubject(commonName: "old"), validityDays: 1, backdateSeconds: 2 * 86_400)
        let error = try #require(throws: TLSError.self) { try issued.certificate.verify(trustRoots: [ca.certificate]) }
        #expect(error.verificationFailure?.contains("certificate has expired") == true)
    }

    @Test("invalid requests are refused with an issuance error")
    func invalidRequests() throws {
        let ca = try CertificateAuthority.create(commonName: "CA", validityDays: 1)
        let badIP = try #require(throws: TLSError.self) {
            try ca.issue(.server, subject: CertificateSubject(commonName: "x"), alternativeNames: [.ip("not-an-ip")])
        }
        #expect(badIP.kind == .certificateIssuance("not-an-ip is not an IP address"))
        let badDNS = try #require(throws: TLSError.self) {
            try ca.issue(.server, subject: CertificateSubject(commonName: "x"), alternativeNames: [.dns("a,DNS:evil")])
        }
        #expect(badDNS.kind == .certificateIssuance("a,DNS:evil is not a DNS name"))
        // A wildcard is a DNS name.
        let wildcard = try ca.issue(.server, subject: CertificateSubject(commonName: "x"), alternativeNames: [.dns("*.example.com")])
        #expect(wildcard.certificate.subjectAlternativeNames == [.dns("*.example.com")])
        #expect(throws: TLSError.self) {
            try ca.issue(.client, subject: CertificateSubject(commonName: ""))
        }
    }

    @Test("written key files have mode 0600, certificates 0644, and nothing is overwritten unless asked")
    func writingFiles() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let issued = try pki.authority.issue(.client, subject: CertificateSubject(commonName: "writer", organizations: ["viewer"]))
        let paths = try issued.write(toDirectory: pki.directory, name: "writer")

        let keyMode = try FileManager.default.attributesOfItem(atPath: paths.keyPath)[.posixPermissions] as? Int
        let certificateMode = try FileManager.default.attributesOfItem(atPath: paths.certificatePath)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        #expect(certificateMode == 0o644)
        #expect(try String(contentsOfFile: paths.certificatePath, encoding: .utf8) == issued.certificatePEM)
        #expect(try String(contentsOfFile: paths.keyPath, encoding: .utf8) == issued.privateKeyPEM)

        let replacement = try pki.authority.issue(.client, subject: CertificateSubject(commonName: "writer"))
        #expect(throws: TLSError.self) { try replacement.write(toDirectory: pki.directory, name: "writer") }
        #expect(try String(contentsOfFile: paths.keyPath, encoding: .utf8) == issued.privateKeyPEM)

        try replacement.write(toDirectory: pki.directory, name: "writer", overwrite: true)
        #expect(try String(contentsOfFile: paths.keyPath, encoding: .utf8) == replacement.privateKeyPEM)
        let modeAfter = try FileManager.default.attributesOfItem(atPath: paths.keyPath)[.posixPermissions] as? Int
        #expect(modeAfter == 0o600)
    }

    @Test("the test PKI's files are real: every client but the foreign one verifies against the CA")
    func testPKI() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let ca = try X509Certificate(pemFile: pki.caCertificatePath)
        try X509Certificate(pemFile: pki.serverCertificatePath).verify(trustRoots: [ca])
        try X509Certificate(pemFile: pki.admin.certificatePath).verify(trustRoots: [ca])
        #expect(throws: TLSError.self) { try X509Certificate(pemFile: pki.foreignClient.certificatePath).verify(trustRoots: [ca]) }
        #expect(throws: TLSError.self) { try X509Certificate(pemFile: pki.expiredClient.certificatePath).verify(trustRoots: [ca]) }
        let component = try pki.issueClient(commonName: "kubelet-7", role: "component")
        #expect(try X509Certificate(pemFile: component.certificatePath).identity.organizations == ["component"])
    }
}
