import GatehouseTLS
import NIOCore
import NIOEmbedded
import Testing

/// TLS 1.2 remains the minimum: it works, with AEAD suites and resumption, and a 1.3-only side refuses it.
@Suite("TLS in memory: TLS 1.2")
struct TLSVersionTests {
    @Test("a TLS 1.2 client completes mutual TLS with an ECDHE AEAD suite and resumes")
    func tls12Client() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.pki.clientConfiguration(for: fixture.pki.admin)
        configuration.maximumVersion = .v1_2
        let client = try TLSContext.client(configuration)

        let first = try TLSPair(client: client, server: fixture.serverContext, sessionKey: "localhost:7443")
        defer { first.finish() }
        try first.handshake()
        #expect(first.serverEvents.errors.isEmpty)
        let result = try #require(first.serverHandler.handshakeResult)
        #expect(result.protocolVersion == "TLSv1.2")
        #expect(result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256" || result.cipher.contains("CHACHA20-POLY1305")
            || result.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384")
        #expect(result.negotiatedProtocol == "gatehouse/1")
        #expect(result.peer?.commonName == "admin")

        let second = try TLSPair(client: client, server: fixture.serverContext, sessionKey: "localhost:7443")
        defer { second.finish() }
        try second.handshake()
        #expect(second.clientHandler.handshakeResult?.sessionReused == true)
        #expect(second.serverHandler.handshakeResult?.sessionReused == true)
        #expect(second.serverHandler.handshakeResult?.peer?.commonName == "admin")
    }

    @Test("a server with minimum TLS 1.3 refuses a TLS 1.2 client")
    func tls13OnlyServer() throws {
        let fixture = try TLSFixture()
        var serverConfiguration = fixture.pki.serverConfiguration
        serverConfiguration.minimumVersion = .v1_3
        var clientConfiguration = fixture.pki.clientConfiguration(for: fixture.pki.admin)
        clientConfiguration.maximumVersion = .v1_2
        let pair = try TLSPair(client: try TLSContext.client(clientConfiguration), server: try TLSContext.server(serverConfiguration))
        defer { pair.finish() }
        try pair.handshake()
        let serverError = try #require(pair.serverEvents.tlsErrors.first)
        #expect(serverError.kind == .handshakeFailed)
        #expect(serverError.openSSLErrors.contains { $0.contains("unsupported protocol") })
        #expect(pair.clientEvents.tlsErrors.first?.kind == .handshakeFailed)
        #expect(pair.client.isActive == false)
        #expect(pair.server.isActive == false)
    }
}
