import GatehouseTLS
import GatehouseTestUtils
import NIOCore
import NIOEmbedded
import Testing

/// Mutual TLS refuses whom it must (PROTOCOL.md §1), and both sides learn why.
@Suite("TLS in memory: refusals")
struct TLSRefusalTests {
    @Test("a client certificate from another CA is refused; the client receives the alert")
    func foreignClientCertificate() throws {
        let fixture = try TLSFixture()
        let intruder = try TLSContext.client(fixture.pki.clientConfiguration(for: fixture.pki.foreignClient))
        let pair = try TLSPair(client: intruder, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        #expect(pair.serverEvents.handshakes.isEmpty)
        #expect(pair.server.isActive == false)
        let serverError = try #require(pair.serverEvents.tlsErrors.first)
        #expect(serverError.kind == .certificateVerificationFailed)
        #expect(serverError.verificationFailure?.contains("unable to get local issuer certificate") == true)
        #expect(serverError.openSSLErrors.contains { $0.contains("certificate verify failed") })

        // In TLS 1.3 the client finishes its side before the server judges its certificate,
        // so it learns of the refusal from the alert that follows.
        #expect(pair.client.isActive == false)
        let clientError = try #require(pair.clientEvents.tlsErrors.first)
        #expect(clientError.openSSLErrors.contains { $0.contains("alert unknown ca") })
    }

    @Test("a client without a certificate is refused")
    func clientWithoutCertificate() throws {
        let fixture = try TLSFixture()
        let anonymous = try TLSContext.clientWithoutCertificate(fixture.pki.clientConfiguration(for: fixture.pki.admin))
        let pair = try TLSPair(client: anonymous, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        #expect(pair.serverEvents.handshakes.isEmpty)
        #expect(pair.server.isActive == false)
        let serverError = try #require(pair.serverEvents.tlsErrors.first)
        #expect(serverError.kind == .handshakeFailed)
        #expect(serverError.openSSLErrors.contains { $0.contains("peer did not return a certificate") })
        #expect(pair.client.isActive == false)
        let clientError = try #require(pair.clientEvents.tlsErrors.first)
        #expect(clientError.openSSLErrors.contains { $0.contains("alert certificate required") })
    }

    @Test("an expired client certificate is refused")
    func expiredClientCertificate() throws {
        let fixture = try TLSFixture()
        let expired = try TLSContext.client(fixture.pki.clientConfiguration(for: fixture.pki.expiredClient))
        let pair = try TLSPair(client: expired, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        let serverError = try #require(pair.serverEvents.tlsErrors.first)
        #expect(serverError.kind == .certificateVerificationFailed)
        #expect(serverError.verificationFailure?.contains("certificate has expired") == true)
        #expect(pair.server.isActive == false)
    }

    @Test("a client offering ALPN without gatehouse/1 is refused with no_application_protocol")
    func wrongALPN() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.pki.clientConfiguration(for: fixture.pki.admin)
        configuration.applicationProtocols = ["h2", "http/1.1"]
        let pair = try TLSPair(client: try TLSContext.client(configuration), server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        #expect(pair.serverEvents.handshakes.isEmpty)
        #expect(pair.clientEvents.handshakes.isEmpty)
        #expect(pair.serverEvents.tlsErrors.first?.kind == .handshakeFailed)
        let clientError = try #require(pair.clientEvents.tlsErrors.first)
        #expect(clientError.kind == .handshakeFailed)
        #expect(clientError.openSSLErrors.contains { $0.contains("no application protocol") })
        #expect(pair.client.isActive == false)
    }

    @Test("the client refuses a server whose certificate does not name the host it dialled")
    func hostnameMismatch() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, serverHostname: "gatehouse.example.com")
        defer { pair.finish() }
        try pair.handshake()

        let clientError = try #require(pair.clientEvents.tlsErrors.first)
        #expect(clientError.kind == .certificateVerificationFailed)
        #expect(clientError.verificationFailure?.contains("hostname mismatch") == true)
        #expect(pair.clientEvents.handshakes.isEmpty)
        #expect(pair.client.isActive == false)
        // The alert was flushed before the client closed, so the server learns why too.
        #expect(pair.serverEvents.tlsErrors.first?.openSSLErrors.contains { $0.contains("alert") } == true)
    }

    @Test("the client refuses a server signed by a CA it does not trust")
    func untrustedServer() throws {
        let fixture = try TLSFixture()
        let other = try TestPKI()
        defer { other.remove() }
        // A client of the other PKI: its trust bundle does not contain our CA.
        let stranger = try TLSContext.client(other.clientConfiguration(for: other.admin))
        let pair = try TLSPair(client: stranger, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        let clientError = try #require(pair.clientEvents.tlsErrors.first)
        #expect(clientError.kind == .certificateVerificationFailed)
        #expect(clientError.openSSLErrors.contains { $0.contains("certificate verify failed") })
        #expect(pair.serverEvents.handshakes.isEmpty)
    }
}
