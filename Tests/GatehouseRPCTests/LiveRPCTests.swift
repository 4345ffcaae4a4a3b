import Dispatch
import GatehouseTLS
import GatehouseTestUtils
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SwiftProtobuf
import Testing

@testable import GatehouseRPC

/// A real server on port 0 and the Swift client, over mutual TLS on loopback.
@Suite(.serialized) struct LiveRPCTests {
    /// Test methods on raw payloads; their server-side events are recorded.
    final class Probe: Sendable {
        let cancelled = NIOLockedValueBox<Set<String>>([])
        /// Why each event-loop call ended, in order, as its method heard it.
        let loopEnds = NIOLockedValueBox<[RPCStatus.Code]>([])

        func markCancelled(_ name: String) {
            _ = self.cancelled.withLockedValue { $0.insert(name) }
        }

        func wasCancelled(_ name: String) -> Bool {
            self.cancelled.withLockedValue { $0.contains(name) }
        }

        var methods: [RPCMethod] {
            [
                RPCMethod(path: "/test.Echo/Unary", requestType: "bytes", responseType: "bytes") { payload, _ in payload },
                RPCMethod(path: "/test.Echo/Slow", requestType: "bytes", responseType: "bytes") { payload, _ in
                    let milliseconds = payload.getInteger(at: payload.readerIndex, as: UInt32.self) ?? 0
                    do {
                        try await Task.sleep(for: .milliseconds(milliseconds))
                    } catch {
                        self.markCancelled("slow")
                        throw error
                    }
                    return payload
                },
                RPCMethod(path: "/test.Echo/Forever", requestType: "bytes", responseType: "bytes") { _, _, writer, _ in
                    var tick: UInt32 = 0
                    do {
                        while true {
                            try await writer.write(ByteBuffer(integer: tick))
                            tick += 1
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    } catch {
                        self.markCancelled("forever")
                        throw error
                    }
                },
                RPCMethod(path: "/test.Echo/Count", requestType: "bytes", responseType: "bytes") { payload, _, writer, _ in
                    let count = payload.getInteger(at: payload.readerIndex, as: UInt32.self) ?? 0
                    for index in 0..<count { try await writer.write(ByteBuffer(integer: index)) }
                },
                RPCMethod(path: "/test.Echo/Acks", requestType: "bytes", responseType: "bytes", acceptsClientMessages: true) { _, messages, writer, _ in
                    for try await message in messages { try await writer.write(message) }
                },
                RPCMethod(path: "/test.Echo/Fail", requestType: "bytes", responseType: "bytes") { _, _ in
                    throw RPCError(.failedPrecondition, "cannot enable X: it needs Y", details: [1, 2])
                },
                .unary("/test.Typed/Duration") { (request: Google_Protobuf_Duration, _) in request },
                // Unary on the event loop: answers after the request's milliseconds, from another thread, as a store's writer would; 0xFFFF_FFFF fails.
                RPCMethod(path: "/test.Loop/Later", requestType: "bytes", responseType: "bytes") { request, _, eventLoop in
                    eventLoop.preconditionInEventLoop()
                    let milliseconds = LiveRPCTests.integer(request) ?? 0
                    guard milliseconds != UInt32.max else {
                        return eventLoop.makeFailedFuture(RPCError(.failedPrecondition, "refused on the loop"))
                    }
                    let promise = eventLoop.makePromise(of: ByteBuffer.self)
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(milliseconds))) {
                        self.markCancelled("later answered \(milliseconds)")
                        promise.succeed(request)
                    }
                    return promise.futureResult
                },
                .unaryOnEventLoop("/test.TypedLoop/Duration") { (request: Google_Protobuf_Duration, _, eventLoop) in
                    eventLoop.makeSucceededFuture(request)
                },
                // On the event loop: echoes the request and each client message; 0 ends the call, 0xFFFF_FFFF is refused.
                RPCMethod(path: "/test.Loop/Echo", requestType: "bytes", responseType: "bytes", acceptsClientMessages: true) { request, call in
                    call.eventLoop.preconditionInEventLoop()
                    _ = call.writer.write(request)
                    return RPCLoopCall.Handlers(
                        message: { message in
                            switch LiveRPCTests.integer(message) {
                            case 0: call.finish(nil)
                            case UInt32.max: throw RPCError(.invalidArgument, "refused \(UInt32.max)")
                            default: _ = call.writer.write(message)
                            }
                        },
                        ended: { reason in
                            self.loopEnds.withLockedValue { $0.append(reason.code) }
                            call.finish(reason)
                        }
                    )
                },
            ]
        }
    }

    struct Harness {
        let pki: TestPKI
        let server: RPCServer
        let port: Int
        let probe: Probe

        static func start(limits: RPCServerLimits = RPCServerLimits()) async throws -> Harness {
            let pki = try TestPKI()
            let probe = Probe()
            let server = RPCServer(
                configuration: .init(
                    host: "127.0.0.1",
                    port: 0,
                    tls: try TLSContext.server(pki.serverConfiguration),
                    limits: limits,
                    router: RPCRouter(probe.methods)
                ),
                logger: Logger(label: "test.server")
            )
            let address = try await server.start()
            return Harness(pki: pki, server: server, port: address.port!, probe: probe)
        }

        func connect(_ credentials: TestPKI.ClientCredentials? = nil) async throws -> RPCClientConnection {
            try await RPCClientConnection.connect(
                host: "127.0.0.1",
                port: self.port,
                tls: try TLSContext.client(self.pki.clientConfiguration(for: credentials ?? self.pki.admin)),
                serverHostname: "localhost"
            )
        }

        func stop() async {
            await self.server.close()
            self.pki.remove()
        }
    }

    static func integer(_ buffer: ByteBuffer) -> UInt32? {
        buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)
    }

    @Test func unaryAndStreamingCallsShareOneConnection() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let forever = try await client.call("/test.Echo/Forever", request: ByteBuffer())
        let count = try await client.call("/test.Echo/Count", request: ByteBuffer(integer: UInt32(50)))

        let echoes = try await withThrowingTaskGroup(of: UInt32?.self) { group in
            for index in 0..<32 as Range<UInt32> {
                group.addTask { Self.integer(try await client.unary("/test.Echo/Unary", request: ByteBuffer(integer: index))) }
            }
            var seen: [UInt32] = []
            for try await echo in group { seen.append(echo ?? .max) }
            return seen.sorted()
        }
        #expect(echoes == Array(0..<32))

        var counted: [UInt32] = []
        for try await message in count { counted.append(Self.integer(message) ?? .max) }
        #expect(counted == Array(0..<50))

        var ticks: [UInt32] = []
        for try await message in forever {
            ticks.append(Self.integer(message) ?? .max)
            if ticks.count == 5 { break }
        }
        #expect(ticks == [0, 1, 2, 3, 4])
        await client.close()
        await harness.stop()
    }

    @Test func aDeadlineEndsTheCallOnBothSides() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let started = ContinuousClock.now
        // Both ends keep the deadline; whichever fires first words the error.
        let expired = await #expect(throws: RPCError.self) {
            _ = try await client.unary("/test.Echo/Slow", request: ByteBuffer(integer: UInt32(5000)), timeout: .milliseconds(200))
        }
        #expect(expired?.code == .deadlineExceeded, "\(String(describing: expired))")
        #expect(ContinuousClock.now - started < .seconds(3))
        try await Self.eventually { harness.probe.wasCancelled("slow") }
        // The connection is still good.
        #expect(Self.integer(try await client.unary("/test.Echo/Unary", request: ByteBuffer(integer: UInt32(7)))) == 7)
        await client.close()
        await harness.stop()
    }

    @Test func cancellingAStreamStopsTheServerSide() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let stream = try await client.call("/test.Echo/Forever", request: ByteBuffer())
        var iterator = stream.makeAsyncIterator()
        for _ in 0..<3 { _ = try await iterator.next() }
        stream.cancel()
        try await Self.eventually { harness.probe.wasCancelled("forever") }
        await #expect(throws: RPCError.self) {
            while try await iterator.next() != nil {}
        }
        await client.close()
        await harness.stop()
    }

    @Test func cancellingTheCallersTaskCancelsTheCall() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let task = Task {
            try await client.unary("/test.Echo/Slow", request: ByteBuffer(integer: UInt32(10_000)))
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        await #expect(throws: RPCError.self) { try await task.value }
        try await Self.eventually { harness.probe.wasCancelled("slow") }
        await client.close()
        await harness.stop()
    }

    @Test func clientMessagesFlowOnAnOpenStream() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let stream = try await client.call("/test.Echo/Acks", request: ByteBuffer(), endStream: false)
        var iterator = stream.makeAsyncIterator()
        for index in 0..<3 as Range<UInt32> {
            try await stream.send(ByteBuffer(integer: index), endStream: index == 2)
            #expect(Self.integer(try await iterator.next() ?? ByteBuffer()) == index)
        }
        #expect(try await iterator.next() == nil, "END_STREAM let the method finish with OK")
        await client.close()
        await harness.stop()
    }

    @Test func anEventLoopCallPushesReadsClientMessagesAndEnds() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        let stream = try await client.call("/test.Loop/Echo", request: ByteBuffer(integer: UInt32(7)), endStream: false)
        var iterator = stream.makeAsyncIterator()
        #expect(Self.integer(try await iterator.next() ?? ByteBuffer()) == 7)
        for index in 1..<4 as Range<UInt32> {
            try await stream.send(ByteBuffer(integer: index))
            #expect(Self.integer(try await iterator.next() ?? ByteBuffer()) == index)
        }
        try await stream.send(ByteBuffer(integer: UInt32(0)))
        #expect(try await iterator.next() == nil, "the method's finish(nil) ends the call with OK")
        #expect(harness.probe.loopEnds.withLockedValue { $0 }.isEmpty, "a call the method ended is not reported back to it")

        // A refused client message ends the call with its status, and the method hears of it to clean up.
        let refused = try await client.call("/test.Loop/Echo", request: ByteBuffer(integer: UInt32(1)), endStream: false)
        var refusedIterator = refused.makeAsyncIterator()
        _ = try await refusedIterator.next()
        try await refused.send(ByteBuffer(integer: UInt32.max))
        await #expect(throws: RPCError(.invalidArgument, "refused \(UInt32.max)")) {
            while try await refusedIterator.next() != nil {}
        }
        #expect(harness.probe.loopEnds.withLockedValue { $0 } == [.invalidArgument])

        // The client cancelling ends it from outside.
        let cancelled = try await client.call("/test.Loop/Echo", request: ByteBuffer(integer: UInt32(2)), endStream: false)
        var cancelledIterator = cancelled.makeAsyncIterator()
        _ = try await cancelledIterator.next()
        cancelled.cancel()
        try await Self.eventually { harness.probe.loopEnds.withLockedValue { $0 } == [.invalidArgument, .cancelled] }

        // So does its deadline, and the method hears of it.
        let expiring = try await client.call("/test.Loop/Echo", request: ByteBuffer(integer: UInt32(3)), endStream: false, timeout: .milliseconds(200))
        let expired = await #expect(throws: RPCError.self) {
            for try await _ in expiring {}
        }
        #expect(expired?.code == .deadlineExceeded, "the client's own deadline or the server's trailers: \(String(describing: expired))")
        // Both ends keep the deadline: the server's timer or the client's CANCEL may arrive first.
        try await Self.eventually { harness.probe.loopEnds.withLockedValue { $0 }.count == 3 }
        #expect([.deadlineExceeded, .cancelled].contains(harness.probe.loopEnds.withLockedValue { $0 }.last))

        // And the connection closing.
        let orphaned = try await client.call("/test.Loop/Echo", request: ByteBuffer(integer: UInt32(4)), endStream: false)
        var orphanedIterator = orphaned.makeAsyncIterator()
        _ = try await orphanedIterator.next()
        await client.close()
        try await Self.eventually { harness.probe.loopEnds.withLockedValue { $0 }.count == 4 }
        #expect(harness.probe.loopEnds.withLockedValue { $0 }.last == .unavailable)
        await harness.stop()
    }

    @Test func aUnaryCallOnTheEventLoopAnswersFailsAndOutlivesItsCaller() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        #expect(Self.integer(try await client.unary("/test.Loop/Later", request: ByteBuffer(integer: UInt32(10)))) == 10)
        await #expect(throws: RPCError(.failedPrecondition, "refused on the loop")) {
            _ = try await client.unary("/test.Loop/Later", request: ByteBuffer(integer: UInt32.max))
        }
        let duration = try await client.unary("/test.TypedLoop/Duration", Google_Protobuf_Duration(seconds: 4), as: Google_Protobuf_Duration.self)
        #expect(duration.seconds == 4)
        let undecodable = await #expect(throws: RPCError.self) {
            _ = try await client.unary("/test.TypedLoop/Duration", request: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]))
        }
        #expect(undecodable?.code == .invalidArgument)

        // Past its deadline, and cancelled by its caller: the answer that comes later is dropped, and the connection goes on.
        let expired = await #expect(throws: RPCError.self) {
            _ = try await client.unary("/test.Loop/Later", request: ByteBuffer(integer: UInt32(300)), timeout: .milliseconds(50))
        }
        #expect(expired?.code == .deadlineExceeded)
        let task = Task { try await client.unary("/test.Loop/Later", request: ByteBuffer(integer: UInt32(301))) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: RPCError.self) { try await task.value }
        try await Self.eventually { harness.probe.wasCancelled("later answered 300") && harness.probe.wasCancelled("later answered 301") }
        #expect(Self.integer(try await client.unary("/test.Loop/Later", request: ByteBuffer(integer: UInt32(1)))) == 1)
        await client.close()
        await harness.stop()
    }

    @Test func statusesReachTheCaller() async throws {
        let harness = try await Harness.start()
        let client = try await harness.connect()
        await #expect(throws: RPCError(.unimplemented, "unknown method /test.Echo/Nope")) {
            _ = try await client.unary("/test.Echo/Nope", request: ByteBuffer())
        }
        await #expect(throws: RPCError(.failedPrecondition, "cannot enable X: it needs Y", details: [1, 2])) {
            _ = try await client.unary("/test.Echo/Fail", request: ByteBuffer())
        }
        do {
            _ = try await client.unary("/test.Typed/Duration", request: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]))
            Issue.record("an undecodable request was accepted")
        } catch let error as RPCError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("google.protobuf.Duration"))
        }
        let duration = try await client.unary("/test.Typed/Duration", Google_Protobuf_Duration(seconds: 3), as: Google_Protobuf_Duration.self)
        #expect(duration.seconds == 3)
        await client.close()
        await harness.stop()
    }

    @Test func callsBeyondTheConcurrencyLimitAreRefused() async throws {
        var limits = RPCServerLimits()
        limits.maxConcurrentCallsPerConnection = 2
        let harness = try await Harness.start(limits: limits)
        let client = try await harness.connect()
        #expect(client.serverHello.value(of: .maxConcurrentStreams) == 2)
        let first = try await client.call("/test.Echo/Forever", request: ByteBuffer())
        let second = try await client.call("/test.Echo/Forever", request: ByteBuffer())
        var firstIterator = first.makeAsyncIterator()
        var secondIterator = second.makeAsyncIterator()
        _ = try await firstIterator.next()
        _ = try await secondIterator.next()
        do {
            _ = try await client.unary("/test.Echo/Unary", request: ByteBuffer())
            Issue.record("a third concurrent call was accepted")
        } catch let error as RPCError {
            #expect(error.code == .resourceExhausted)
        }
        first.cancel()
        try await Self.eventually { harness.probe.wasCancelled("forever") }
        #expect(Self.integer(try await client.unary("/test.Echo/Unary", request: ByteBuffer(integer: UInt32(1)))) == 1)
        await client.close()
        await harness.stop()
    }

    @Test func drainingSendsGoAwayAndLetsInFlightCallsFinish() async throws {
        var limits = RPCServerLimits()
        limits.shutdownGracePeriod = .seconds(5)
        let harness = try await Harness.start(limits: limits)
        let client = try await harness.connect()
        let stream = try await client.call("/test.Echo/Forever", request: ByteBuffer())
        var iterator = stream.makeAsyncIterator()
        _ = try await iterator.next()
        let slow = Task { try await client.unary("/test.Echo/Slow", request: ByteBuffer(integer: UInt32(500))) }
        try await Task.sleep(for: .milliseconds(100))

        let drained = Task { await harness.server.drain() }
        // The stream ends with UNAVAILABLE so its client resumes elsewhere…
        do {
            while try await iterator.next() != nil {}
            Issue.record("the stream ended OK instead of UNAVAILABLE")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
        }
        // …no new call starts on this connection…
        await #expect(throws: RPCError.self) {
            _ = try await client.unary("/test.Echo/Unary", request: ByteBuffer())
        }
        // …and the call in flight finishes with its answer.
        #expect(Self.integer(try await slow.value) == 500)
        await drained.value
        try await client.closeFuture.get()
        #expect(harness.server.connectionCount == 0)
        await #expect(throws: RPCError.self) { _ = try await harness.connect() }
        harness.pki.remove()
    }

    @Test func aClientFromAnotherCAIsRefusedAndOthersAreServed() async throws {
        let harness = try await Harness.start()
        await #expect(throws: RPCError.self) { _ = try await harness.connect(harness.pki.foreignClient) }
        await #expect(throws: RPCError.self) { _ = try await harness.connect(harness.pki.expiredClient) }
        let client = try await harness.connect()
        #expect(Self.integer(try await client.unary("/test.Echo/Unary", request: ByteBuffer(integer: UInt32(3)))) == 3)
        let handshake = await client.handshake
        #expect(handshake?.negotiatedProtocol == "gatehouse/1")
        #expect(handshake?.protocolVersion == "TLSv1.3")
        await client.close()
        await harness.stop()
    }

    @Test func theConnectionLimitRefusesExtraConnections() async throws {
        var limits = RPCServerLimits()
        limits.maxConnections = 1
        let harness = try await Harness.start(limits: limits)
        let first = try await harness.connect()
        await #expect(throws: RPCError.self) { _ = try await harness.connect() }
        #expect(Self.integer(try await first.unary("/test.Echo/Unary", request: ByteBuffer(integer: UInt32(9)))) == 9)
        await first.close()
        try await Self.eventually { harness.server.connectionCount == 0 }
        let second = try await harness.connect()
        await second.close()
        await harness.stop()
    }

    @Test func aPortInUseIsAClearError() async throws {
        let harness = try await Harness.start()
        let second = RPCServer(
            configuration: .init(host: "127.0.0.1", port: harness.port, tls: try TLSContext.server(harness.pki.serverConfiguration), router: RPCRouter()),
            logger: Logger(label: "test.second")
        )
        do {
            try await second.start()
            Issue.record("two servers listened on one port")
        } catch let error as ListenError {
            #expect(error.description.contains("already in use"))
        }
        await harness.stop()
    }

    /// Polls `condition` for up to 20 s: server-side effects land asynchronously.
    ///
    /// It polls on a thread of its own: while the whole suite starts on two cores
    /// the cooperative threads can be busy for many seconds, and a poll waiting for
    /// one of them misses a state that holds only for a while (a full handshake stage).
    static func eventually(_ condition: @escaping @Sendable () -> Bool) async throws {
        let met = try await runOffTheCooperativePool { () -> Bool in
            let deadline = ContinuousClock.now + .seconds(20)
            while !condition() {
                guard ContinuousClock.now < deadline else { return false }
                usleep(10_000)
            }
            return true
        }
        if !met { Issue.record("condition not met within 20 s") }
    }
}
