import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseRPC

/// The server connection handler on an `EmbeddedChannel`: frames in, frames
/// out, virtual time, and writability set by hand.
@Suite struct RPCServerConnectionHandlerTests {
    /// Counts the reads the channel asks for that get past the handler.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0

        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }
    }

    /// Unary methods on the event loop that answer only when told to, and remember their calls.
    final class PendingCalls: Sendable {
        let waiting = NIOLockedValueBox<[(RPCServerContext, EventLoopPromise<ByteBuffer>)]>([])

        var method: RPCMethod {
            RPCMethod(path: "/t.S/Pending", requestType: "t.Req", responseType: "t.Resp") { request, context, eventLoop in
                let promise = eventLoop.makePromise(of: ByteBuffer.self)
                self.waiting.withLockedValue { $0.append((context, promise)) }
                return promise.futureResult
            }
        }

        var contexts: [RPCServerContext] { self.waiting.withLockedValue { $0.map(\.0) } }

        func answerFirst() {
            let first = self.waiting.withLockedValue { $0.removeFirst() }
            first.1.succeed(ByteBuffer())
        }

        /// Answers what is left, so that no promise is leaked.
        func answerAll() {
            for (_, promise) in self.waiting.withLockedValue({ waiting in defer { waiting = [] }; return waiting }) {
                promise.succeed(ByteBuffer())
            }
        }
    }

    static let echo = RPCMethod(path: "/t.S/Echo", requestType: "t.Req", responseType: "t.Resp") { request, _, eventLoop in
        eventLoop.makeSucceededFuture(request)
    }

    /// A long call on the event loop that ends only when its connection ends it.
    static let stream = RPCMethod(path: "/t.S/Stream", requestType: "t.Req", responseType: "t.Resp") { _, call in
        RPCLoopCall.Handlers(message: { _ in }, ended: { reason in call.finish(reason) })
    }

    /// A long call on the event loop whose method keeps its call (and writer)
    /// after it ended, as a subscription hub might keep an outlet a while.
    final class KeptCalls: Sendable {
        let calls = NIOLockedValueBox<[RPCLoopCall]>([])

        var method: RPCMethod {
            RPCMethod(path: "/t.S/Kept", requestType: "t.Req", responseType: "t.Resp") { _, call in
                self.calls.withLockedValue { $0.append(call) }
                return RPCLoopCall.Handlers(message: { _ in }, ended: { _ in })
            }
        }
    }

    struct Connection {
        let channel: EmbeddedChannel
        let reads: ReadCounter
        weak var handler: RPCServerConnectionHandler?

        init(limits: RPCServerLimits = RPCServerLimits(), methods: [RPCMethod] = [RPCServerConnectionHandlerTests.echo]) throws {
            self.channel = EmbeddedChannel()
            self.reads = ReadCounter()
            let handler = RPCServerConnectionHandler(router: RPCRouter(methods), limits: limits, logger: Logger(label: "test"))
            self.handler = handler
            try self.channel.pipeline.syncOperations.addHandlers(self.reads, handler)
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        }

        func send(_ frames: Frame...) throws {
            var buffer = ByteBuffer()
            for frame in frames { frame.encode(into: &buffer) }
            try self.channel.writeInbound(buffer)
        }

        func send(_ frames: [Frame]) throws {
            var buffer = ByteBuffer()
            for frame in frames { frame.encode(into: &buffer) }
            try self.channel.writeInbound(buffer)
        }

        func hello() throws {
            try self.send(.hello(Frame.Hello(versions: [1], settings: [])))
            guard case .hello = try self.received().first else {
                Issue.record("expected the server's HELLO")
                return
            }
        }

        /// Every frame the server wrote since the last look.
        func received() throws -> [Frame] {
            var bytes = ByteBuffer()
            while var buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
                bytes.writeBuffer(&buffer)
            }
            var parser = FrameParser(maxFrameSize: 16_777_215)
            var frames: [Frame] = []
            while let frame = try parser.nextFrame(from: &bytes) { frames.append(frame) }
            return frames
        }
    }

    static func headers(_ streamID: StreamID, _ path: String, metadata: Metadata = Metadata()) -> Frame {
        .headers(Frame.Headers(streamID: streamID, path: path, timeoutMilliseconds: 0, metadata: metadata))
    }

    static func message(_ streamID: StreamID) -> Frame {
        .message(Frame.Message(streamID: streamID, endStream: true, payload: ByteBuffer(bytes: [1, 2, 3])))
    }

    static func ping(_ payload: UInt64) -> Frame {
        .ping(Frame.Ping(ack: false, payload: payload))
    }

    // MARK: - Authorization at HEADERS

    @Test func aCallerTheCheckRefusesIsAnsweredAtHeaders() throws {
        let checked = Self.echo.checked { context in
            throw RPCError(.permissionDenied, "\(context.peer?.commonName ?? "nobody") may not call \(context.path)")
        }
        let connection = try Connection(methods: [checked])
        try connection.hello()
        try connection.send(Self.headers(1, "/t.S/Echo"))  // no request: nothing held for it
        let frames = try connection.received()
        guard case .trailers(let trailers) = frames.first else {
            Issue.record("expected TRAILERS at HEADERS, got \(frames)")
            return
        }
        #expect(trailers.streamID == 1)
        #expect(trailers.status.code == .permissionDenied)
        #expect(trailers.status.message == "nobody may not call /t.S/Echo")
        try connection.send(Self.message(1))
        #expect(try connection.received().isEmpty, "the method never runs")
        _ = try connection.channel.finish()
    }

    @Test func aCallerTheCheckAllowsIsServed() throws {
        let connection = try Connection(methods: [Self.echo.checked { _ in }.checked { _ in }])
        try connection.hello()
        try connection.send(Self.headers(1, "/t.S/Echo"), Self.message(1))
        let frames = try connection.received()
        #expect(frames.count == 2)
        guard case .trailers(let trailers) = frames.last else {
            Issue.record("expected TRAILERS, got \(frames)")
            return
        }
        #expect(trailers.status.code == .ok)
        _ = try connection.channel.finish()
    }

    @Test func metadataBeyondTheLimitIsRefused() throws {
        var limits = RPCServerLimits()
        limits.maxMetadataPerCall = 1_024
        let connection = try Connection(limits: limits)
        try connection.hello()
        let big = Metadata([Metadata.Entry(key: "big", value: Array(repeating: 0x61, count: 2_000))])
        try connection.send(Self.headers(1, "/t.S/Echo", metadata: big))
        guard case .trailers(let trailers) = try connection.received().first else {
            Issue.record("expected TRAILERS")
            return
        }
        #expect(trailers.status.code == .resourceExhausted)
        #expect(connection.channel.isActive)
        _ = try connection.channel.finish()
    }

    // MARK: - Keepalive

    @Test func noPingBeforeTheServersHello() throws {
        var limits = RPCServerLimits()
        limits.keepaliveInterval = .seconds(1)
        limits.handshakeTimeout = .seconds(10)
        let connection = try Connection(limits: limits)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try connection.received().isEmpty, "nothing may precede the server's HELLO")
        try connection.hello()
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        guard case .ping(let ping) = try connection.received().first else {
            Issue.record("expected a keepalive PING one interval after HELLO")
            return
        }
        #expect(!ping.ack)
        _ = try connection.channel.finish()
    }

    @Test func noHelloWithinTheHandshakeTimeoutEndsTheConnection() throws {
        var limits = RPCServerLimits()
        limits.keepaliveInterval = .seconds(1)
        limits.handshakeTimeout = .seconds(3)
        let connection = try Connection(limits: limits)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        let frames = try connection.received()
        guard frames.count == 1, case .goAway(let goAway) = frames[0] else {
            Issue.record("expected only GOAWAY, got \(frames)")
            return
        }
        #expect(goAway.errorCode == .timeout)
        #expect(!connection.channel.isActive)
    }

    // MARK: - Floods and backpressure

    @Test func aPingFloodEndsWithEnhanceYourCalm() throws {
        var limits = RPCServerLimits()
        limits.maxPingsPerWindow = 10
        let connection = try Connection(limits: limits)
        try connection.hello()
        try connection.send((0..<1_000).map { Self.ping(UInt64($0)) })
        let frames = try connection.received()
        #expect(frames.count == 11, "ten answers, then GOAWAY")
        guard case .goAway(let goAway) = frames.last else {
            Issue.record("expected GOAWAY, got \(String(describing: frames.last))")
            return
        }
        #expect(goAway.errorCode == .enhanceYourCalm)
        #expect(goAway.debug == "too many PINGs: more than 10 in 10 s")
        #expect(!connection.channel.isActive)
    }

    @Test func pingsWithinTheLimitAreAnsweredWindowAfterWindow() throws {
        var limits = RPCServerLimits()
        limits.maxPingsPerWindow = 10
        let connection = try Connection(limits: limits)
        try connection.hello()
        for window in 0..<3 {
            try connection.send((0..<10).map { Self.ping(UInt64(window * 10 + $0)) })
            #expect(try connection.received().count == 10)
            connection.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
            _ = try connection.received()  // keepalive
        }
        #expect(connection.channel.isActive)
        _ = try connection.channel.finish()
    }

    /// A peer that does not read: nothing it sent is handled and nothing more
    /// is read until it catches up, so answers cannot pile up.
    @Test func aPeerThatDoesNotReadIsNotRead() throws {
        let connection = try Connection()
        try connection.hello()
        connection.channel.isWritable = false
        connection.channel.pipeline.fireChannelWritabilityChanged()
        try connection.send([Self.ping(1), Self.ping(2), Self.headers(1, "/t.S/Echo"), Self.message(1)])
        #expect(try connection.received().isEmpty, "no answer is queued for a peer that does not read")
        let readsBefore = connection.reads.reads
        connection.channel.read()
        #expect(connection.reads.reads == readsBefore, "no read is issued while the peer does not take what it is sent")

        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        let frames = try connection.received()
        #expect(frames.count == 4, "the two PING answers, then the call's MESSAGE and TRAILERS: \(frames)")
        #expect(connection.reads.reads == readsBefore + 1, "the read held back is issued")
        _ = try connection.channel.finish()
    }

    /// A GOAWAY a peer never takes must not keep the connection open.
    @Test func aGoAwayThePeerNeverTakesStillCloses() throws {
        var limits = RPCServerLimits()
        limits.maxPingsPerWindow = 1
        let connection = try Connection(limits: limits)
        try connection.hello()
        // Writes that never complete: the peer reads nothing.
        try connection.channel.pipeline.syncOperations.addHandler(StallWrites(), position: .first)
        try connection.send(Self.ping(1), Self.ping(2))
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: RPCServerConnectionHandler.closeLinger)
        #expect(!connection.channel.isActive)
    }

    /// Holds every write's promise: a socket whose peer does not read.
    final class StallWrites: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var stalled: [EventLoopPromise<Void>] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { self.stalled.append(promise) }
        }

        func flush(context: ChannelHandlerContext) {}

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            for stalled in self.stalled { stalled.fail(ChannelError.ioOnClosedChannel) }
            self.stalled = []
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: - Rapid reset

    @Test func aCancelledCallKeepsItsPlaceUntilItsWorkEnds() throws {
        let pending = PendingCalls()
        var limits = RPCServerLimits()
        limits.maxConcurrentCallsPerConnection = 2
        let connection = try Connection(limits: limits, methods: [pending.method])
        try connection.hello()
        try connection.send([
            Self.headers(1, "/t.S/Pending"), Self.message(1), .cancel(streamID: 1),
            Self.headers(3, "/t.S/Pending"), Self.message(3), .cancel(streamID: 3),
            Self.headers(5, "/t.S/Pending"), Self.message(5),
        ])
        let contexts = pending.contexts
        #expect(contexts.count == 2, "the third call must wait for a cancelled one's work to end")
        #expect(contexts.allSatisfy { $0.isCancelled }, "the methods learn they were cancelled")
        guard case .trailers(let refused) = try connection.received().first else {
            Issue.record("expected the third call refused")
            return
        }
        #expect(refused.streamID == 5 && refused.status.code == .resourceExhausted)

        pending.answerFirst()
        connection.channel.embeddedEventLoop.run()
        #expect(try connection.received().isEmpty, "a cancelled call gets nothing, not even TRAILERS")
        try connection.send(Self.headers(7, "/t.S/Pending"), Self.message(7))
        #expect(pending.contexts.count == 2, "the place freed up")
        #expect(pending.contexts.last?.isCancelled == false)
        pending.answerAll()
        _ = try connection.channel.finish()
    }

    @Test func tooManyCancelledCallsEndTheConnection() throws {
        let pending = PendingCalls()
        var limits = RPCServerLimits()
        limits.maxCancelsPerWindow = 5
        let connection = try Connection(limits: limits, methods: [pending.method])
        try connection.hello()
        var frames: [Frame] = []
        for index in 0..<100 {
            let streamID = StreamID(2 * index + 1)
            frames += [Self.headers(streamID, "/t.S/Pending"), Self.message(streamID), .cancel(streamID: streamID)]
        }
        try connection.send(frames)
        #expect(pending.contexts.count == 6, "nothing after the sixth CANCEL is handled")
        guard case .goAway(let goAway) = try connection.received().last else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.errorCode == .enhanceYourCalm)
        #expect(goAway.debug == "too many cancelled calls: more than 5 CANCEL frames in 10 s")
        #expect(!connection.channel.isActive)
        pending.answerAll()
    }

    // MARK: - Nothing outlives the connection

    /// Many connections, each with calls waiting for their request (with
    /// metadata), running on the loop, and cancelled: once closed, not one
    /// handler (and so none of its calls' state) is still alive.
    @Test func closedConnectionsLeaveNothingBehind() throws {
        let pending = PendingCalls()
        let kept = KeptCalls()
        let metadata = Metadata([Metadata.Entry(key: "m", value: Array(repeating: 0x61, count: 8_000))])
        var handlers: [() -> RPCServerConnectionHandler?] = []
        for round in 0..<200 {
            let connection = try Connection(methods: [Self.echo, Self.stream, pending.method, kept.method])
            try connection.hello()
            var frames: [Frame] = []
            for index in 0..<20 {
                frames.append(Self.headers(StreamID(4 * index + 1), "/t.S/Echo", metadata: metadata))  // never given a request
            }
            frames += [Self.headers(101, "/t.S/Stream"), Self.message(101)]
            frames += [Self.headers(103, "/t.S/Pending"), Self.message(103)]
            frames += [Self.headers(105, "/t.S/Pending"), Self.message(105), .cancel(streamID: 105)]
            frames += [Self.headers(107, "/t.S/Kept"), Self.message(107)]
            try connection.send(frames)
            _ = try connection.received()
            if round.isMultiple(of: 2) {
                _ = try connection.channel.close().wait()
            } else {
                _ = try connection.channel.finish()
            }
            pending.answerAll()
            connection.channel.embeddedEventLoop.run()
            handlers.append { [weak handler = connection.handler] in handler }
        }
        let alive = handlers.filter { $0() != nil }.count
        #expect(alive == 0, "\(alive) of 200 closed connections' handlers are still alive")
        #expect(kept.calls.withLockedValue { $0.count } == 200, "the methods still hold their calls")
        // A call kept after its connection closed can still be written to: it fails, it does not crash.
        let late = kept.calls.withLockedValue { $0[0] }
        let write = late.eventLoop.flatSubmit { late.writer.write(ByteBuffer(bytes: [1])) }
        (late.eventLoop as? EmbeddedEventLoop)?.run()
        #expect(throws: RPCError.self) { try write.wait() }
    }
}
