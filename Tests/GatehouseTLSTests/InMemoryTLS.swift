import GatehouseTLS
import GatehouseTestUtils
import NIOCore
import NIOEmbedded
import Testing

/// Records what reaches the top of a TLS pipeline: plaintext, TLS events, errors, inactivity.
///
/// Errors are recorded rather than passed on, so `EmbeddedChannel` does not
/// rethrow them from an unrelated `writeInbound` and each test can assert
/// on exactly the error it expects.
final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received = ByteBuffer()
    /// The storage size of each plaintext buffer delivered: what a reader that keeps one would hold.
    var receivedCapacities: [Int] = []
    var handshakes: [TLSHandshakeResult] = []
    var errors: [any Error] = []
    var becameInactive = false

    var tlsErrors: [TLSError] { self.errors.compactMap { $0 as? TLSError } }
    var receivedString: String { String(buffer: self.received) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.receivedCapacities.append(buffer.capacity)
        self.received.writeBuffer(&buffer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent {
            switch event {
            case .handshakeCompleted(let result): self.handshakes.append(result)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.becameInactive = true
    }
}

/// Every buffer `channel` has written so far, in order.
func outboundBuffers(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
    var buffers: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
    return buffers
}

/// Shuttles ciphertext between two channels until neither has anything left to send.
///
/// The in-memory stand-in for a TCP connection (after swift-nio-ssl's test
/// helper of the same name): what one side writes is fed to the other as
/// input, round after round, so a whole handshake or transfer runs
/// synchronously in the test.
func interactInMemory(_ first: EmbeddedChannel, _ second: EmbeddedChannel) throws {
    var rounds = 0
    while true {
        rounds += 1
        try #require(rounds < 1_000, "the channels kept talking for 1000 rounds")
        var quiet = true
        while let bytes = try first.readOutbound(as: ByteBuffer.self) {
            quiet = false
            try second.writeInbound(bytes)
        }
        while let bytes = try second.readOutbound(as: ByteBuffer.self) {
            quiet = false
            try first.writeInbound(bytes)
        }
        if quiet { return }
    }
}

/// A client and a server `EmbeddedChannel`, each with a ``TLSHandler`` and an ``EventRecorder``.
final class TLSPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientHandler: TLSHandler
    let serverHandler: TLSHandler
    let clientEvents = EventRecorder()
    let serverEvents = EventRecorder()

    init(
        client clientContext: TLSContext,
        server serverContext: TLSContext,
        serverHostname: String? = "localhost",
        sessionKey: String? = nil
    ) throws {
        self.clientHandler = TLSHandler(context: clientContext, serverHostname: serverHostname, sessionKey: sessionKey)
        self.serverHandler = TLSHandler(context: serverContext)
        self.client = EmbeddedChannel()
        self.server = EmbeddedChannel()
        try self.client.pipeline.syncOperations.addHandlers([self.clientHandler, self.clientEvents])
        try self.server.pipeline.syncOperations.addHandlers([self.serverHandler, self.serverEvents])
    }

    /// Makes both channels active; the client's handshake begins (its ClientHello is queued).
    func activate() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 7443)
        try self.server.connect(to: address).wait()
        try self.client.connect(to: address).wait()
    }

    /// Activates both sides and runs the exchange to quiet.
    func handshake() throws {
        try self.activate()
        try self.interact()
    }

    func interact() throws {
        try interactInMemory(self.client, self.server)
    }

    /// Tears both channels down, tolerating those already closed.
    func finish() {
        _ = try? self.client.finish(acceptAlreadyClosed: true)
        _ = try? self.server.finish(acceptAlreadyClosed: true)
    }
}

/// A `TestPKI` and the contexts most tests need, removed at the end of each test.
final class TLSFixture {
    let pki: TestPKI
    let serverContext: TLSContext
    let adminContext: TLSContext

    init() throws {
        self.pki = try TestPKI()
        self.serverContext = try TLSContext.server(self.pki.serverConfiguration)
        self.adminContext = try TLSContext.client(self.pki.clientConfiguration(for: self.pki.admin))
    }

    deinit {
        self.pki.remove()
    }
}

extension ByteBuffer {
    /// A buffer of `count` pseudo-random bytes, so corruption or reordering would show.
    static func pattern(count: Int) -> ByteBuffer {
        var generator = SystemRandomNumberGenerator()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        for _ in 0..<count {
            buffer.writeInteger(UInt8.random(in: .min ... .max, using: &generator))
        }
        return buffer
    }
}
