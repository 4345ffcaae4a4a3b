import NIOCore
import Testing

@testable import GatehouseRPC

/// The server's connection rules, event by event, without a channel.
@Suite struct ServerConnectionStateMachineTests {
    static let unary = RPCMethodDescriptor(path: "/t.S/Unary", kind: .unary, requestType: "t.Req", responseType: "t.Resp")
    static let stream = RPCMethodDescriptor(path: "/t.S/Stream", kind: .serverStreaming, requestType: "t.Req", responseType: "t.Resp")
    static let subscribe = RPCMethodDescriptor(
        path: "/t.S/Subscribe",
        kind: .serverStreaming,
        requestType: "t.Req",
        responseType: "t.Resp",
        acceptsClientMessages: true
    )
    static let clientHello = Frame.hello(Frame.Hello(versions: [1], settings: [Frame.Setting(.maxFrameSize, 65_536)]))
    static let payload = ByteBuffer(bytes: [1, 2, 3])

    private func makeMachine(maxConcurrentStreams: Int = 4, maxMetadataPerCall: Int = 16_384, maxMetadataPerConnection: Int = 262_144) -> ServerConnectionStateMachine {
        ServerConnectionStateMachine(
            configuration: .init(
                supportedVersions: [1],
                settings: RPCServerLimits().helloSettings,
                maxConcurrentStreams: maxConcurrentStreams,
                methods: [Self.unary.path: Self.unary, Self.stream.path: Self.stream, Self.subscribe.path: Self.subscribe],
                maxMetadataPerCall: maxMetadataPerCall,
                maxMetadataPerConnection: maxMetadataPerConnection
            )
        )
    }

    private func readyMachine(maxConcurrentStreams: Int = 4, maxMetadataPerCall: Int = 16_384, maxMetadataPerConnection: Int = 262_144) -> ServerConnectionStateMachine {
        var machine = self.makeMachine(
            maxConcurrentStreams: maxConcurrentStreams,
            maxMetadataPerCall: maxMetadataPerCall,
            maxMetadataPerConnection: maxMetadataPerConnection
        )
        _ = machine.frameReceived(Self.clientHello)
        return machine
    }

    private func headers(_ streamID: StreamID, _ path: String, timeout: UInt32 = 0, metadata: Metadata = Metadata()) -> Frame {
        .headers(Frame.Headers(streamID: streamID, path: path, timeoutMilliseconds: timeout, metadata: metadata))
    }

    /// Whether `action` opens the call on `streamID`.
    private func opens(_ action: ServerConnectionStateMachine.Action, _ streamID: StreamID) -> Bool {
        if case .openCall(let headers, _) = action { return headers.streamID == streamID }
        return false
    }

    private func message(_ streamID: StreamID, endStream: Bool = false) -> Frame {
        .message(Frame.Message(streamID: streamID, endStream: endStream, payload: Self.payload))
    }

    private func expectProtocolError(_ action: ServerConnectionStateMachine.Action, _ comment: Comment? = nil) {
        guard case .closeWithGoAway(let goAway) = action else {
            Issue.record("expected GOAWAY, got \(action)")
            return
        }
        #expect(goAway.errorCode == .protocolError, comment)
    }

    @Test func answersHelloWithTheChosenVersionAndItsSettings() {
        var machine = self.makeMachine()
        let action = machine.frameReceived(.hello(Frame.Hello(versions: [7, 1], settings: [Frame.Setting(.maxFrameSize, 65_536)])))
        #expect(action == .send(.hello(Frame.Hello(versions: [1], settings: RPCServerLimits().helloSettings))))
        #expect(machine.peerMaxFrameSize == 65_536)
    }

    @Test func refusesHelloWithoutACommonVersion() {
        var machine = self.makeMachine()
        guard case .closeWithGoAway(let goAway) = machine.frameReceived(.hello(Frame.Hello(versions: [2, 3], settings: []))) else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.errorCode == .unsupportedVersion)
        #expect(goAway.debug.contains("1"))
        #expect(machine.isClosed)
    }

    @Test func refusesAnImpossibleMaxFrameSize() {
        var machine = self.makeMachine()
        self.expectProtocolError(machine.frameReceived(.hello(Frame.Hello(versions: [1], settings: [Frame.Setting(.maxFrameSize, 100)]))))
    }

    @Test func theFirstFrameMustBeHello() {
        var machine = self.makeMachine()
        self.expectProtocolError(machine.frameReceived(self.headers(1, Self.unary.path)))
        #expect(machine.frameReceived(Self.clientHello) == .none, "a closed connection ignores everything")
    }

    @Test func aSecondHelloIsAProtocolError() {
        var machine = self.readyMachine()
        self.expectProtocolError(machine.frameReceived(Self.clientHello))
    }

    @Test func startsAUnaryCallWhenItsRequestArrives() {
        var machine = self.readyMachine()
        #expect(self.opens(machine.frameReceived(self.headers(1, Self.unary.path)), 1))
        #expect(machine.hasOpenStreams)
        let start = machine.frameReceived(self.message(1, endStream: true))
        guard case .startCall(let headers, let descriptor, let request, let clientClosed) = start else {
            Issue.record("expected startCall, got \(start)")
            return
        }
        #expect(headers.streamID == 1 && descriptor == Self.unary && request == Self.payload && clientClosed)
        #expect(machine.isRunning(1))
        #expect(machine.callFinished(1, status: .ok) == .endCall(Frame.Trailers(streamID: 1, status: .ok), closeConnection: false))
        #expect(!machine.hasOpenStreams)
        #expect(machine.callFinished(1, status: .ok) == .none, "a call ends once")
    }

    @Test func aCallPastItsDeadlineEndsButCountsUntilItsMethodReturns() {
        var machine = self.readyMachine(maxConcurrentStreams: 1)
        guard case .openCall(let headers, _) = machine.frameReceived(self.headers(1, Self.unary.path, timeout: 250)) else {
            Issue.record("expected openCall")
            return
        }
        #expect(headers.timeoutMilliseconds == 250)
        _ = machine.frameReceived(self.message(1))
        let expired = machine.deadlineExpired(1)
        guard case .endCall(let trailers, false) = expired else {
            Issue.record("expected endCall, got \(expired)")
            return
        }
        #expect(trailers.status.code == .deadlineExceeded)
        #expect(!machine.isRunning(1))
        #expect(machine.frameReceived(self.headers(3, Self.unary.path)) != .none, "the method still runs: no slot")
        #expect(machine.callFinished(1, status: .ok) == .none, "TRAILERS were already sent")
        #expect(self.opens(machine.frameReceived(self.headers(5, Self.unary.path)), 5))
    }

    @Test func aCallPastItsDeadlineBeforeItsRequestEndsAtOnce() {
        var machine = self.readyMachine(maxConcurrentStreams: 1)
        _ = machine.frameReceived(self.headers(1, Self.unary.path, timeout: 250))
        guard case .endCall(let trailers, false) = machine.deadlineExpired(1) else {
            Issue.record("expected endCall")
            return
        }
        #expect(trailers.status.code == .deadlineExceeded)
        #expect(self.opens(machine.frameReceived(self.headers(3, Self.unary.path)), 3))
    }

    @Test func refusesAnUnknownMethodButKeepsTheConnection() {
        var machine = self.readyMachine()
        guard case .refuseCall(let path, let trailers) = machine.frameReceived(self.headers(1, "/t.S/Nope")) else {
            Issue.record("expected refuseCall")
            return
        }
        #expect(path == "/t.S/Nope")
        #expect(trailers.status.code == .unimplemented)
        #expect(machine.frameReceived(self.message(1)) == .none, "the request of a refused call is ignored")
        #expect(self.opens(machine.frameReceived(self.headers(3, Self.unary.path)), 3))
    }

    @Test func refusesCallsBeyondTheConcurrencyLimit() {
        var machine = self.readyMachine(maxConcurrentStreams: 2)
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        _ = machine.frameReceived(self.headers(3, Self.unary.path))
        guard case .refuseCall(_, let trailers) = machine.frameReceived(self.headers(5, Self.unary.path)) else {
            Issue.record("expected refuseCall")
            return
        }
        #expect(trailers.status.code == .resourceExhausted)
        _ = machine.frameReceived(self.message(1))
        _ = machine.callFinished(1, status: .ok)
        #expect(self.opens(machine.frameReceived(self.headers(7, Self.unary.path)), 7), "a slot freed up")
    }

    @Test func streamIDsMustIncrease() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(5, Self.unary.path))
        self.expectProtocolError(machine.frameReceived(self.headers(3, Self.unary.path)))
    }

    @Test func framesForNeverOpenedStreamsAreProtocolErrors() {
        var machine = self.readyMachine()
        self.expectProtocolError(machine.frameReceived(self.message(1)))
        var other = self.readyMachine()
        self.expectProtocolError(other.frameReceived(.cancel(streamID: 9)))
    }

    @Test func trailersFromTheClientAreAProtocolError() {
        var machine = self.readyMachine()
        self.expectProtocolError(machine.frameReceived(.trailers(Frame.Trailers(streamID: 1, status: .ok))))
    }

    @Test func aSecondMessageFailsAUnaryCall() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        _ = machine.frameReceived(self.message(1))
        guard case .endCall(let trailers, false) = machine.frameReceived(self.message(1)) else {
            Issue.record("expected endCall")
            return
        }
        #expect(trailers.status.code == .invalidArgument)
        #expect(!machine.isRunning(1))
    }

    @Test func deliversClientMessagesToMethodsThatTakeThem() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.subscribe.path))
        _ = machine.frameReceived(self.message(1))
        #expect(machine.frameReceived(self.message(1)) == .deliverClientMessage(1, Self.payload, endStream: false))
        #expect(machine.frameReceived(self.message(1, endStream: true)) == .deliverClientMessage(1, Self.payload, endStream: true))
        self.expectProtocolError(machine.frameReceived(self.message(1)), "nothing may follow END_STREAM")
    }

    @Test func refusesClientMessagesOnStreamsThatTakeNone() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.stream.path))
        _ = machine.frameReceived(self.message(1))
        guard case .endCall(let trailers, _) = machine.frameReceived(self.message(1)) else {
            Issue.record("expected endCall")
            return
        }
        #expect(trailers.status.code == .invalidArgument)
    }

    @Test func cancelStopsTheCallAndSendsNothing() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.stream.path))
        _ = machine.frameReceived(self.message(1))
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, wasStarted: true, closeConnection: false))
        #expect(!machine.isRunning(1))
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .none, "a late CANCEL is ignored")
        #expect(machine.frameReceived(self.message(1)) == .none, "a late MESSAGE is ignored")
        #expect(machine.callFinished(1, status: .ok) == .none, "nothing is sent once the method returns")
        #expect(!machine.hasOpenStreams)
    }

    /// Rapid reset: a cancelled call whose method has not returned keeps its
    /// place, so cancelling cannot run more methods than the limit.
    @Test func aCancelledCallCountsUntilItsWorkEnds() {
        var machine = self.readyMachine(maxConcurrentStreams: 2)
        for streamID: StreamID in [1, 3] {
            _ = machine.frameReceived(self.headers(streamID, Self.unary.path))
            _ = machine.frameReceived(self.message(streamID, endStream: true))
            #expect(machine.frameReceived(.cancel(streamID: streamID)) == .cancelCall(streamID, wasStarted: true, closeConnection: false))
        }
        guard case .refuseCall(_, let trailers) = machine.frameReceived(self.headers(5, Self.unary.path)) else {
            Issue.record("expected refuseCall: both cancelled methods are still running")
            return
        }
        #expect(trailers.status.code == .resourceExhausted)
        #expect(machine.workEnded(1) == .none)
        #expect(self.opens(machine.frameReceived(self.headers(7, Self.unary.path)), 7))
        #expect(machine.callFinished(3, status: .ok) == .none)
        #expect(self.opens(machine.frameReceived(self.headers(9, Self.unary.path)), 9))
    }

    @Test func aCallCancelledBeforeItsRequestIsGoneAtOnce() {
        var machine = self.readyMachine(maxConcurrentStreams: 1)
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, wasStarted: false, closeConnection: false))
        #expect(self.opens(machine.frameReceived(self.headers(3, Self.unary.path)), 3))
    }

    static func metadata(valueOctets: Int) -> Metadata {
        Metadata([Metadata.Entry(key: "k", value: Array(repeating: 0x61, count: valueOctets))])
    }

    @Test func refusesACallWithTooMuchMetadata() {
        var machine = self.readyMachine(maxMetadataPerCall: 1_000)
        // 1 key octet + 32 per entry + the value.
        #expect(self.opens(machine.frameReceived(self.headers(1, Self.unary.path, metadata: Self.metadata(valueOctets: 967))), 1))
        guard case .refuseCall(_, let trailers) = machine.frameReceived(self.headers(3, Self.unary.path, metadata: Self.metadata(valueOctets: 968))) else {
            Issue.record("expected refuseCall")
            return
        }
        #expect(trailers.status.code == .resourceExhausted)
        #expect(trailers.status.message.contains("1001"))
        #expect(!machine.isClosed)
    }

    @Test func boundsTheMetadataAllOpenCallsHold() {
        var machine = self.readyMachine(maxConcurrentStreams: 10, maxMetadataPerCall: 1_000, maxMetadataPerConnection: 2_000)
        let big = Self.metadata(valueOctets: 900)  // 933 octets counted
        #expect(self.opens(machine.frameReceived(self.headers(1, Self.unary.path, metadata: big)), 1))
        #expect(self.opens(machine.frameReceived(self.headers(3, Self.stream.path, metadata: big)), 3))
        guard case .refuseCall(_, let trailers) = machine.frameReceived(self.headers(5, Self.unary.path, metadata: big)) else {
            Issue.record("expected refuseCall")
            return
        }
        #expect(trailers.status.code == .resourceExhausted)
        // Whatever way a call goes, its metadata is released once it is over.
        _ = machine.frameReceived(.cancel(streamID: 1))
        #expect(self.opens(machine.frameReceived(self.headers(7, Self.unary.path, metadata: big)), 7))
        _ = machine.frameReceived(self.message(3))
        _ = machine.frameReceived(.cancel(streamID: 3))
        #expect(machine.frameReceived(self.headers(9, Self.unary.path, metadata: big)) != .none, "a cancelled method still running holds its metadata")
        _ = machine.workEnded(3)
        #expect(self.opens(machine.frameReceived(self.headers(11, Self.unary.path, metadata: big)), 11))
    }

    @Test func answersPingsAndIgnoresAcks() {
        var machine = self.readyMachine()
        #expect(machine.frameReceived(.ping(Frame.Ping(ack: false, payload: 77))) == .send(.ping(Frame.Ping(ack: true, payload: 77))))
        #expect(machine.frameReceived(.ping(Frame.Ping(ack: true, payload: 77))) == .none)
    }

    @Test func drainingLetsUnaryCallsFinishAndEndsStreams() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        _ = machine.frameReceived(self.message(1))
        _ = machine.frameReceived(self.headers(3, Self.stream.path))
        _ = machine.frameReceived(self.message(3))
        let (goAway, streamsToEnd, closeNow) = machine.beginDraining()
        #expect(goAway == Frame.GoAway(lastStreamID: 3, errorCode: .noError, debug: "server shutting down"))
        #expect(streamsToEnd == [3])
        #expect(!closeNow)
        #expect(machine.beginDraining().goAway == nil, "GOAWAY is sent once")

        guard case .refuseCall(_, let refused) = machine.frameReceived(self.headers(5, Self.unary.path)) else {
            Issue.record("expected refuseCall while draining")
            return
        }
        #expect(refused.status.code == .unavailable)

        let unavailable = RPCStatus(code: .unavailable, message: "shutting down")
        #expect(machine.callFinished(3, status: unavailable) == .endCall(Frame.Trailers(streamID: 3, status: unavailable), closeConnection: false))
        #expect(machine.isRunning(1), "the unary call is still allowed to finish")
        #expect(machine.callFinished(1, status: .ok) == .endCall(Frame.Trailers(streamID: 1, status: .ok), closeConnection: true))
        #expect(machine.isClosed)
    }

    @Test func drainingAnIdleConnectionClosesAtOnce() {
        var machine = self.readyMachine()
        let (goAway, _, closeNow) = machine.beginDraining()
        #expect(goAway?.errorCode == .noError)
        #expect(closeNow)
    }

    @Test func aCancelThatEndsTheLastDrainingCallClosesTheConnection() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        _ = machine.frameReceived(self.message(1))
        _ = machine.beginDraining()
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, wasStarted: true, closeConnection: false))
        #expect(!machine.isClosed, "the cancelled method is still running")
        #expect(machine.callFinished(1, status: .ok) == .close)
        #expect(machine.isClosed)

        var awaiting = self.readyMachine()
        _ = awaiting.frameReceived(self.headers(1, Self.unary.path))
        _ = awaiting.beginDraining()
        #expect(awaiting.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, wasStarted: false, closeConnection: true))
        #expect(awaiting.isClosed)
    }

    @Test func aClientGoAwayClosesOnceItsCallsEnd() {
        var machine = self.readyMachine()
        #expect(machine.frameReceived(.goAway(Frame.GoAway(lastStreamID: 0, errorCode: .noError, debug: "bye"))) == .close)
        var busy = self.readyMachine()
        _ = busy.frameReceived(self.headers(1, Self.unary.path))
        _ = busy.frameReceived(self.message(1))
        #expect(busy.frameReceived(.goAway(Frame.GoAway(lastStreamID: 0, errorCode: .noError, debug: "bye"))) == .none)
        #expect(busy.callFinished(1, status: .ok) == .endCall(Frame.Trailers(streamID: 1, status: .ok), closeConnection: true))
    }

    @Test func theChannelClosingStopsEveryOpenCall() {
        var machine = self.readyMachine()
        _ = machine.frameReceived(self.headers(1, Self.unary.path))
        _ = machine.frameReceived(self.headers(3, Self.stream.path))
        #expect(Set(machine.channelClosed()) == [1, 3])
        #expect(machine.isClosed)
        #expect(machine.channelClosed().isEmpty, "nothing of the calls is kept")

        var failed = self.readyMachine()
        _ = failed.frameReceived(self.headers(1, Self.unary.path))
        _ = failed.connectionError(.protocolError, "bad")
        #expect(failed.channelClosed() == [1], "a connection error keeps the calls until the channel closes")
    }
}
