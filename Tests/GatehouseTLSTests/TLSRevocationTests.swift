import Foundation
import GatehouseTLS
import NIOCore
import NIOEmbedded
import Testing

/// A server configured with a CRL refuses the certificates it lists, and only those.
@Suite("TLS in memory: revocation")
struct TLSRevocationTests {
    @Test("a revoked client certificate is refused; a valid one from the same CA is accepted")
    func revokedClient() throws {
        let fixture = try TLSFixture()
        let pki = fixture.pki
        let admin = try X509Certificate(pemFile: pki.admin.certificatePath)
        let crl = try pki.authority.revocationList(revoking: [admin])
        #expect(crl.hasPrefix("-----BEGIN X509 CRL-----"))
        let crlPath = pki.directory + "/ca.crl.pem"
        try crl.write(toFile: crlPath, atomically: true, encoding: .utf8)

        var serverConfiguration = pki.serverConfiguration
        serverConfiguration.crlPath = crlPath
        let server = try TLSContext.server(serverConfiguration)

        let refused = try TLSPair(client: fixture.adminContext, server: server)
        defer { refused.finish() }
        try refused.handshake()
        let error = try #require(refused.serverEvents.tlsErrors.first)
        #expect(error.kind == .certificateVerificationFailed)
        #expect(error.verificationFailure?.contains("certificate revoked") == true)
        #expect(refused.server.isActive == false)

        let viewer = try pki.issueClient(commonName: "viewer-1", role: "viewer")
        let accepted = try TLSPair(client: try TLSContext.client(pki.clientConfiguration(for: viewer)), server: server)
        defer { accepted.finish() }
        try accepted.handshake()
        #expect(accepted.serverEvents.errors.isEmpty)
        #expect(accepted.serverHandler.handshakeResult?.peer?.commonName == "viewer-1")
    }

    @Test("a CRL path with no CRL in it is a configuration error")
    func emptyCRLFile() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.pki.serverConfiguration
        configuration.crlPath = fixture.pki.caCertificatePath  // a certificate, not a CRL
        let error = try #require(throws: TLSError.self) { try TLSContext.server(configuration) }
        #expect(error.kind == .configuration("no PEM CRL in \(fixture.pki.caCertificatePath)"))
    }
}
