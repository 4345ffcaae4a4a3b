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

    private func makeMachine(maxConcurrentStreams: Int = 4) -> ServerConnectionStateMachine {
        ServerConnectionStateMachine(
            configuration: .init(
                supportedVersions: [1],
                settings: RPCServerLimits().helloSettings,
                maxConcurrentStreams: maxConcurrentStreams,
                methods: [Self.unary.path: Self.unary, Self.stream.path: Self.stream, Self.subscribe.path: Self.subscribe]
            )
        )
    }

    private func readyMachine(maxConcurrentStreams: Int = 4) -> ServerConnectionStateMachine {
        var machine = self.makeMachine(maxConcurrentStreams: maxConcurrentStreams)
        _ = machine.frameReceived(Self.clientHello)
        return machine
    }

    private func headers(_ streamID: StreamID, _ path: String, timeout: UInt32 = 0) -> Frame {
        .headers(Frame.Headers(streamID: streamID, path: path, timeoutMilliseconds: timeout))
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
        #expect(machine.frameReceived(self.headers(1, Self.unary.path)) == .none)
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

    @Test func armsTheDeadlineFromHeaders() {
        var machine = self.readyMachine()
        #expect(machine.frameReceived(self.headers(1, Self.unary.path, timeout: 250)) == .armDeadline(1, milliseconds: 250))
        _ = machine.frameReceived(self.message(1))
        let expired = machine.deadlineExpired(1)
        guard case .endCall(let trailers, false) = expired else {
            Issue.record("expected endCall, got \(expired)")
            return
        }
        #expect(trailers.status.code == .deadlineExceeded)
        #expect(machine.callFinished(1, status: .ok) == .none, "TRAILERS were already sent")
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
        #expect(machine.frameReceived(self.headers(3, Self.unary.path)) == .none)
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
        #expect(machine.frameReceived(self.headers(7, Self.unary.path)) == .none, "a slot freed up")
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
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, closeConnection: false))
        #expect(machine.callFinished(1, status: .ok) == .none)
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .none, "a late CANCEL is ignored")
        #expect(machine.frameReceived(self.message(1)) == .none, "a late MESSAGE is ignored")
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
        #expect(machine.frameReceived(.cancel(streamID: 1)) == .cancelCall(1, closeConnection: true))
        #expect(machine.isClosed)
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
    }
}
