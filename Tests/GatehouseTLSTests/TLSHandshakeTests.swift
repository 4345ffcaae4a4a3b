import GatehouseTLS
import GatehouseTestUtils
import NIOCore
import NIOEmbedded
import Testing

/// The happy path of mutual TLS, run in memory: handshake, identities, data, writes before the handshake.
@Suite("TLS in memory: handshake and data")
struct TLSHandshakeTests {
    @Test("handshake negotiates TLS 1.3 and ALPN, and each side sees the other's identity")
    func handshakeAndIdentity() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        #expect(pair.clientEvents.errors.isEmpty)
        #expect(pair.serverEvents.errors.isEmpty)
        let client = try #require(pair.clientEvents.handshakes.first)
        let server = try #require(pair.serverEvents.handshakes.first)
        #expect(pair.clientEvents.handshakes.count == 1)
        #expect(pair.serverEvents.handshakes.count == 1)
        #expect(pair.clientHandler.handshakeResult == client)
        #expect(pair.serverHandler.handshakeResult == server)

        for result in [client, server] {
            #expect(result.negotiatedProtocol == "gatehouse/1")
            #expect(result.protocolVersion == "TLSv1.3")
            #expect(result.cipher.hasPrefix("TLS_"))
            #expect(result.sessionReused == false)
        }

        // The server sees the admin client.
        let admin = try #require(server.peer)
        let adminCertificate = try X509Certificate(pemFile: fixture.pki.admin.certificatePath)
        #expect(admin.commonName == "admin")
        #expect(admin.organizations == ["admin"])
        #expect(admin.organizationalUnits == [])
        #expect(admin.subject == "CN=admin,O=admin")
        #expect(admin.fingerprintSHA256 == adminCertificate.fingerprintSHA256)
        #expect(admin.fingerprintSHA256.count == 64)
        #expect(admin.fingerprintSHA256 == admin.fingerprintSHA256.lowercased())

        // The client sees the server certificate with its SANs.
        let serverPeer = try #require(client.peer)
        #expect(serverPeer.commonName == "localhost")
        #expect(serverPeer.dnsNames == ["localhost"])
        #expect(serverPeer.ipAddresses == ["127.0.0.1", "::1"])
        #expect(serverPeer.organizations == ["gatehouse"])
    }

    @Test("application data flows both ways, including 100 KB (several records)")
    func dataBothWays() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        let hello = pair.client.writeAndFlush(ByteBuffer(string: "hello, server"))
        try pair.interact()
        try hello.wait()
        #expect(pair.serverEvents.receivedString == "hello, server")

        let large = ByteBuffer.pattern(count: 100 * 1024)
        let sent = pair.server.writeAndFlush(large)
        // The ciphertext is longer than the plaintext: one record holds at most 16 KiB.
        var ciphertextBytes = 0
        while let chunk = try pair.server.readOutbound(as: ByteBuffer.self) {
            ciphertextBytes += chunk.readableBytes
            try pair.client.writeInbound(chunk)
        }
        try sent.wait()
        // 7 TLS 1.3 records (6 full, one partial), each adding a 5-byte header,
        // the inner content type and a 16-byte AEAD tag.
        #expect(ciphertextBytes == 100 * 1024 + 7 * 22)
        #expect(pair.clientEvents.received == large)
        #expect(pair.clientEvents.errors.isEmpty)
        #expect(pair.serverEvents.errors.isEmpty)
    }

    @Test("plaintext comes in buffers sized to what arrived, also when records are split across reads")
    func plaintextBuffersFitWhatArrived() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        // A small message must not pin a whole record's worth (16 KiB) of memory.
        _ = pair.client.writeAndFlush(ByteBuffer(string: "ack r42"))
        try pair.interact()
        #expect(pair.serverEvents.receivedString == "ack r42")
        #expect(pair.serverEvents.receivedCapacities.allSatisfy { $0 < 256 }, "\(pair.serverEvents.receivedCapacities)")

        // 40 KiB in three records, fed in 1,000-octet pieces and then octet by octet.
        let large = ByteBuffer.pattern(count: 40 * 1024)
        let sent = pair.server.writeAndFlush(large)
        var ciphertext = ByteBuffer()
        while var chunk = try pair.server.readOutbound(as: ByteBuffer.self) { ciphertext.writeBuffer(&chunk) }
        try sent.wait()
        while ciphertext.readableBytes > 100, let piece = ciphertext.readSlice(length: min(1_000, ciphertext.readableBytes - 100)) {
            try pair.client.writeInbound(piece)
        }
        while let octet = ciphertext.readSlice(length: 1) { try pair.client.writeInbound(octet) }
        #expect(pair.clientEvents.received == large)
        #expect(pair.clientEvents.receivedCapacities.allSatisfy { $0 <= 16_384 })
        #expect(pair.clientEvents.errors.isEmpty)
    }

    @Test("small writes flushed together leave as one record; a write that would overflow it starts the next")
    func flushedWritesShareARecord() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()

        // A response and its trailers, as the RPC layer writes them: one flush.
        let response = pair.server.write(ByteBuffer(string: "response "))
        let unacknowledged = pair.server.write(ByteBuffer(string: "and "))
        let trailers = pair.server.writeAndFlush(ByteBuffer(string: "trailers"))
        var chunks = try outboundBuffers(pair.server)
        #expect(chunks.count == 1)
        #expect(chunks.map(\.readableBytes) == ["response and trailers".utf8.count + 22], "one record: a 5-byte header, the content type, a 16-byte tag")
        for chunk in chunks { try pair.client.writeInbound(chunk) }
        try response.wait()
        try unacknowledged.wait()
        try trailers.wait()
        #expect(pair.clientEvents.receivedString == "response and trailers")

        // 10 KiB and 10 KiB do not fit one record's 16 KiB: two records, in order.
        let first = ByteBuffer.pattern(count: 10 * 1024)
        let second = ByteBuffer.pattern(count: 10 * 1024)
        pair.clientEvents.received.clear()
        let sentFirst = pair.server.write(first)
        let sentSecond = pair.server.writeAndFlush(second)
        chunks = try outboundBuffers(pair.server)
        #expect(chunks.map(\.readableBytes) == [10 * 1024 + 22, 10 * 1024 + 22])
        for chunk in chunks { try pair.client.writeInbound(chunk) }
        try sentFirst.wait()
        try sentSecond.wait()
        var expected = first
        expected.writeImmutableBuffer(second)
        #expect(pair.clientEvents.received == expected)
        #expect(pair.clientEvents.errors.isEmpty && pair.serverEvents.errors.isEmpty)
    }

    @Test("writes made before the handshake are delivered after it, in order, and their promises complete")
    func writesBeforeHandshake() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.activate()

        let first = pair.client.write(ByteBuffer(string: "early "))
        let second = pair.client.writeAndFlush(ByteBuffer(string: "bird"))
        var firstDone = false
        var secondDone = false
        first.assumeIsolated().whenSuccess { firstDone = true }
        second.assumeIsolated().whenSuccess { secondDone = true }
        // Only the ClientHello is on the wire so far; nothing of the plaintext.
        #expect(firstDone == false)
        #expect(secondDone == false)
        #expect(pair.clientHandler.handshakeResult == nil)

        try pair.interact()
        #expect(firstDone)
        #expect(secondDone)
        #expect(pair.serverEvents.receivedString == "early bird")
        #expect(pair.serverEvents.errors.isEmpty)
    }

    @Test("a write that was never flushed before close is failed, not dropped")
    func unflushedWriteFailsOnClose() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext)
        defer { pair.finish() }
        try pair.activate()
        let pending = pair.client.write(ByteBuffer(string: "never flushed"))
        var failure: (any Error)?
        pending.assumeIsolated().whenFailure { failure = $0 }
        try pair.client.close().wait()
        #expect(failure as? ChannelError == .ioOnClosedChannel)
    }

    @Test("a client with no ALPN list is accepted (probing tools) and negotiates none")
    func clientWithoutALPN() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.pki.clientConfiguration(for: fixture.pki.admin)
        configuration.applicationProtocols = []
        let pair = try TLSPair(client: try TLSContext.client(configuration), server: fixture.serverContext)
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.serverEvents.errors.isEmpty)
        #expect(pair.serverHandler.handshakeResult?.negotiatedProtocol == nil)
        #expect(pair.serverHandler.handshakeResult?.peer?.commonName == "admin")
    }

    @Test("the client accepts the server by IP address SAN")
    func serverByIPAddress() throws {
        let fixture = try TLSFixture()
        let pair = try TLSPair(client: fixture.adminContext, server: fixture.serverContext, serverHostname: "127.0.0.1")
        defer { pair.finish() }
        try pair.handshake()
        #expect(pair.clientEvents.errors.isEmpty)
        #expect(pair.clientHandler.handshakeResult?.peer?.ipAddresses.contains("127.0.0.1") == true)
    }
}
