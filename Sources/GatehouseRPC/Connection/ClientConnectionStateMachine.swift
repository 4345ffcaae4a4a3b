import NIOCore

/// The client's side of one connection, as a value (PROTOCOL.md section 3).
///
/// It allocates stream ids, tracks which calls are open, and decides what
/// each frame from the server means; the channel handler performs the rest.
struct ClientConnectionStateMachine {
    private enum State {
        case awaitingHello
        case ready(Streams)
        /// The server sent GOAWAY: open calls may finish, no new ones start.
        case goingAway(Streams)
        case closed
    }

    private struct Streams {
        var open: Set<StreamID> = []
        var nextStreamID: StreamID = 1
    }

    enum Action: Equatable {
        case none
        /// The server's HELLO: the connection is ready for calls.
        case ready(Frame.Hello)
        case deliverMessage(StreamID, ByteBuffer)
        case finishCall(StreamID, RPCStatus)
        case send(Frame)
        /// The server is leaving; these calls were not processed and fail UNAVAILABLE.
        case goAway(Frame.GoAway, unprocessed: [StreamID])
        /// The server broke the protocol: close the connection.
        case protocolError(String)
    }

    private var state: State = .awaitingHello
    /// The server's MAX_FRAME_SIZE, from its HELLO.
    private(set) var peerMaxFrameSize: UInt32 = 16_384

    /// Allocates the id for a new call, or says why none can start.
    mutating func openStream() -> Result<StreamID, RPCError> {
        switch self.state {
        case .awaitingHello:
            return .failure(RPCError(.unavailable, "the connection is not ready"))
        case .goingAway:
            return .failure(RPCError(.unavailable, "the server is closing this connection; reconnect"))
        case .closed:
            return .failure(RPCError(.unavailable, "the connection is closed"))
        case .ready(var streams):
            let streamID = streams.nextStreamID
            guard streamID < 0x7FFF_FFFF else {
                return .failure(RPCError(.unavailable, "this connection has used all its stream ids; reconnect"))
            }
            streams.nextStreamID += 2
            streams.open.insert(streamID)
            self.state = .ready(streams)
            return .success(streamID)
        }
    }

    /// The caller gave up on a call; true when CANCEL must be sent.
    mutating func cancel(_ streamID: StreamID) -> Bool {
        self.removeStream(streamID)
    }

    func isOpen(_ streamID: StreamID) -> Bool {
        switch self.state {
        case .ready(let streams), .goingAway(let streams): return streams.open.contains(streamID)
        case .awaitingHello, .closed: return false
        }
    }

    mutating func frameReceived(_ frame: Frame) -> Action {
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello:
            guard case .hello(let hello) = frame else {
                if case .goAway(let goAway) = frame {
                    self.state = .closed
                    return .goAway(goAway, unprocessed: [])
                }
                return self.protocolError("expected HELLO first, got \(frame.typeName)")
            }
            guard hello.versions.count == 1, let version = hello.versions.first, RPCProtocol.versions.contains(version) else {
                return self.protocolError("the server chose protocol versions \(hello.versions), not one of \(RPCProtocol.versions)")
            }
            if let maxFrameSize = hello.value(of: .maxFrameSize) {
                self.peerMaxFrameSize = maxFrameSize
            }
            self.state = .ready(Streams())
            return .ready(hello)
        case .ready(let streams), .goingAway(let streams):
            return self.frameReceived(frame, streams: streams)
        }
    }

    private mutating func frameReceived(_ frame: Frame, streams: Streams) -> Action {
        switch frame {
        case .hello:
            return self.protocolError("a second HELLO")
        case .headers, .cancel:
            return self.protocolError("\(frame.typeName) is sent by clients only")
        case .message(let message):
            guard message.streamID < streams.nextStreamID else {
                return self.protocolError("MESSAGE for stream \(message.streamID), which was never opened")
            }
            guard !message.endStream else {
                return self.protocolError("the server set END_STREAM on a MESSAGE")
            }
            return streams.open.contains(message.streamID) ? .deliverMessage(message.streamID, message.payload) : .none
        case .trailers(let trailers):
            guard trailers.streamID < streams.nextStreamID else {
                return self.protocolError("TRAILERS for stream \(trailers.streamID), which was never opened")
            }
            return self.removeStream(trailers.streamID) ? .finishCall(trailers.streamID, trailers.status) : .none
        case .ping(let ping):
            return ping.ack ? .none : .send(.ping(Frame.Ping(ack: true, payload: ping.payload)))
        case .goAway(let goAway):
            let unprocessed = streams.open.filter { $0 > goAway.lastStreamID }.sorted()
            var remaining = streams
            remaining.open.subtract(unprocessed)
            self.state = .goingAway(remaining)
            return .goAway(goAway, unprocessed: unprocessed)
        }
    }

    /// The channel closed: every call still open fails.
    mutating func channelClosed() -> [StreamID] {
        defer { self.state = .closed }
        switch self.state {
        case .ready(let streams), .goingAway(let streams): return streams.open.sorted()
        case .awaitingHello, .closed: return []
        }
    }

    private mutating func removeStream(_ streamID: StreamID) -> Bool {
        switch self.state {
        case .ready(var streams):
            guard streams.open.remove(streamID) != nil else { return false }
            self.state = .ready(streams)
            return true
        case .goingAway(var streams):
            guard streams.open.remove(streamID) != nil else { return false }
            self.state = .goingAway(streams)
            return true
        case .awaitingHello, .closed:
            return false
        }
    }

    private mutating func protocolError(_ reason: String) -> Action {
        self.state = .closed
        return .protocolError(reason)
    }
}
