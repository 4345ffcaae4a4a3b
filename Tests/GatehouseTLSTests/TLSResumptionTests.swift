import GatehouseTLS
import NIOCore
import NIOEmbedded
import Testing

/// Session resumption with client certificates on: reconnecting skips the full handshake.
@Suite("TLS in memory: resumption")
struct TLSResumptionTests {
    @Test("a second connection from the same client context resumes, and still knows the client")
    func resumesWithClientCertificate() throws {
        let fixture = try TLSFixture()
        let key = "localhost:7443"
        #expect(fixture.adminContext.hasCachedSession(for: key) == false)

        let first = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, sessionKey: key)
        defer { first.finish() }
        try first.handshake()
        #expect(first.clientHandler.handshakeResult?.sessionReused == false)
        #expect(first.serverHandler.handshakeResult?.sessionReused == false)
        // TLS 1.3 tickets arrive after the handshake; the client context has stored one.
        #expect(fixture.adminContext.hasCachedSession(for: key))

        let second = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, sessionKey: key)
        defer { second.finish() }
        try second.handshake()
        #expect(second.clientEvents.errors.isEmpty)
        #expect(second.serverEvents.errors.isEmpty)
        let client = try #require(second.clientHandler.handshakeResult)
        let server = try #require(second.serverHandler.handshakeResult)
        #expect(client.sessionReused)
        #expect(server.sessionReused)
        #expect(server.negotiatedProtocol == "gatehouse/1")
        #expect(server.peer?.commonName == "admin")
        #expect(server.peer?.fingerprintSHA256 == first.serverHandler.handshakeResult?.peer?.fingerprintSHA256)

        // Data still flows on the resumed connection.
        try second.client.writeAndFlush(ByteBuffer(string: "resumed")).wait()
        try second.interact()
        #expect(second.serverEvents.receivedString == "resumed")
    }

    @Test("sessions are kept per key: another key gets a full handshake")
    func sessionsArePerKey() throws {
        let fixture = try TLSFixture()
        let first = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, sessionKey: "a:1")
        defer { first.finish() }
        try first.handshake()

        let other = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, sessionKey: "b:2")
        defer { other.finish() }
        try other.handshake()
        #expect(other.clientHandler.handshakeResult?.sessionReused == false)

        let none = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, sessionKey: nil)
        defer { none.finish() }
        try none.handshake()
        #expect(none.clientHandler.handshakeResult?.sessionReused == false)
    }
}
