import NIOCore
import Testing

@testable import GatehouseRPC

/// The client's connection rules, event by event, without a channel.
@Suite struct ClientConnectionStateMachineTests {
    static let serverHello = Frame.hello(Frame.Hello(versions: [1], settings: [Frame.Setting(.maxFrameSize, 32_768)]))

    private func readyMachine() -> ClientConnectionStateMachine {
        var machine = ClientConnectionStateMachine()
        _ = machine.frameReceived(Self.serverHello)
        return machine
    }

    @Test func noCallBeforeHello() {
        var machine = ClientConnectionStateMachine()
        let refused = machine.openStream()
        #expect(throws: RPCError.self) { try refused.get() }
        guard case .ready = machine.frameReceived(Self.serverHello) else {
            Issue.record("expected ready")
            return
        }
        #expect(machine.peerMaxFrameSize == 32_768)
    }

    @Test func refusesAServerThatPicksTwoVersions() {
        var machine = ClientConnectionStateMachine()
        guard case .protocolError = machine.frameReceived(.hello(Frame.Hello(versions: [1, 2], settings: []))) else {
            Issue.record("expected a protocol error")
            return
        }
    }

    @Test func allocatesIncreasingOddStreamIDs() throws {
        var machine = self.readyMachine()
        #expect(try machine.openStream().get() == 1)
        #expect(try machine.openStream().get() == 3)
        #expect(try machine.openStream().get() == 5)
    }

    @Test func routesMessagesAndTrailersToOpenCalls() throws {
        var machine = self.readyMachine()
        let streamID = try machine.openStream().get()
        let payload = ByteBuffer(bytes: [9])
        #expect(machine.frameReceived(.message(Frame.Message(streamID: streamID, payload: payload))) == .deliverMessage(streamID, payload))
        #expect(machine.frameReceived(.trailers(Frame.Trailers(streamID: streamID, status: .ok))) == .finishCall(streamID, .ok))
        #expect(!machine.isOpen(streamID))
    }

    @Test func framesForCancelledCallsAreDropped() throws {
        var machine = self.readyMachine()
        let streamID = try machine.openStream().get()
        let first = machine.cancel(streamID)
        let second = machine.cancel(streamID)
        #expect(first)
        #expect(!second, "CANCEL goes out once")
        #expect(machine.frameReceived(.message(Frame.Message(streamID: streamID, payload: ByteBuffer()))) == .none)
        #expect(machine.frameReceived(.trailers(Frame.Trailers(streamID: streamID, status: .ok))) == .none)
    }

    @Test func framesForNeverOpenedStreamsAreProtocolErrors() {
        var machine = self.readyMachine()
        guard case .protocolError = machine.frameReceived(.message(Frame.Message(streamID: 1, payload: ByteBuffer()))) else {
            Issue.record("expected a protocol error")
            return
        }
    }

    @Test func goAwayFailsOnlyTheUnprocessedCalls() throws {
        var machine = self.readyMachine()
        let first = try machine.openStream().get()
        let second = try machine.openStream().get()
        let goAway = Frame.GoAway(lastStreamID: first, errorCode: .noError, debug: "draining")
        #expect(machine.frameReceived(.goAway(goAway)) == .goAway(goAway, unprocessed: [second]))
        #expect(machine.isOpen(first))
        let refused = machine.openStream()
        #expect(throws: RPCError.self) { try refused.get() }
        #expect(machine.frameReceived(.trailers(Frame.Trailers(streamID: first, status: .ok))) == .finishCall(first, .ok))
    }

    @Test func answersPings() {
        var machine = self.readyMachine()
        #expect(machine.frameReceived(.ping(Frame.Ping(ack: false, payload: 5))) == .send(.ping(Frame.Ping(ack: true, payload: 5))))
    }

    @Test func theChannelClosingFailsOpenCalls() throws {
        var machine = self.readyMachine()
        let streamID = try machine.openStream().get()
        #expect(machine.channelClosed() == [streamID])
        let refused = machine.openStream()
        #expect(throws: RPCError.self) { try refused.get() }
    }
}
