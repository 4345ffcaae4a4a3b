import GatehouseTLS
import NIOCore
import NIOEmbedded
import Testing

/// Orderly endings: close_notify sent on close and answered on receipt; the handshake timeout.
@Suite("TLS in memory: closing and timeouts")
struct TLSClosureTests {
    @Test("closing the client sends close_notify; the server answers with its own and closes")
    func clientCloses() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        try pair.client.close().wait()
        #expect(pair.client.isActive == false)
        // The client's last bytes are one TLS 1.3 record: an encrypted alert (outer type 23, 24 bytes).
        let closeNotify = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(closeNotify.getInteger(at: closeNotify.readerIndex, as: UInt8.self) == 23)
        #expect(closeNotify.readableBytes == 24)
        #expect(try pair.client.readOutbound(as: ByteBuffer.self) == nil)

        try pair.server.writeInbound(closeNotify)
        #expect(pair.server.isActive == false)
        #expect(pair.serverEvents.becameInactive)
        let reply = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(reply.readableBytes == 24)
        #expect(pair.serverEvents.errors.isEmpty)
        #expect(pair.clientEvents.errors.isEmpty)
    }

    @Test("a close_notify received by the client is answered and the client closes, without error")
    func serverCloses() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        let payload = pair.server.writeAndFlush(ByteBuffer(string: "last words"))
        let closed = pair.server.close()
        try closed.wait()
        try payload.wait()
        #expect(pair.server.isActive == false)
        try pair.interact()
        #expect(pair.clientEvents.receivedString == "last words")
        #expect(pair.client.isActive == false)
        #expect(pair.clientEvents.becameInactive)
        #expect(pair.clientEvents.errors.isEmpty)
        #expect(pair.serverEvents.errors.isEmpty)
    }

    @Test("a transport that ends without close_notify is reported as unexpectedClose")
    func uncleanClose() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverEvents.tlsErrors.map(\.kind) == [.unexpectedClose])
    }

    @Test("a handshake that does not finish in time closes the connection with handshakeTimeout")
    func handshakeTimeout() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.activate()  // the ClientHello is never delivered

        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(9_999))
        #expect(pair.server.isActive)
        #expect(pair.serverEvents.errors.isEmpty)

        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(pair.server.isActive == false)
        #expect(pair.serverEvents.tlsErrors.map(\.kind) == [.handshakeTimeout])
    }

    @Test("the handshake timeout is configurable and is cancelled by a completed handshake")
    func handshakeTimeoutConfigurable() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.pki.clientConfiguration(for: fixture.pki.admin)
        configuration.handshakeTimeout = .seconds(2)
        let client = try TLSContext.client(configuration)

        let stalled = try TLSPair(client: client, server: fixture.serverContext)
        defer { stalled.finish() }
        try stalled.activate()
        stalled.client.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(stalled.clientEvents.tlsErrors.map(\.kind) == [.handshakeTimeout])
        #expect(stalled.client.isActive == false)

        let completed = try TLSPair(client: client, server: fixture.serverContext)
        defer { completed.finish() }
        try completed.handshake()
        completed.client.embeddedEventLoop.advanceTime(by: .seconds(60))
        completed.server.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(completed.client.isActive)
        #expect(completed.server.isActive)
        #expect(completed.clientEvents.errors.isEmpty)
        #expect(completed.serverEvents.errors.isEmpty)
    }
}
