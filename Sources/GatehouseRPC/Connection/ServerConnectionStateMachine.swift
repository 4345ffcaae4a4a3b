import NIOCore

/// The server's side of one connection, as a value: frames and local events
/// in, actions out (PROTOCOL.md section 3).
///
/// It decides everything the protocol decides — version negotiation, stream
/// id rules, concurrency limits, unknown methods, draining — and performs no
/// I/O, so every rule is tested without a channel.
struct ServerConnectionStateMachine {
    struct Configuration {
        var supportedVersions: [UInt16]
        var settings: [Frame.Setting]
        var maxConcurrentStreams: Int
        var methods: [String: RPCMethodDescriptor]
    }

    private enum State {
        case awaitingHello
        case active
        /// No new calls; the connection closes once the last one ends.
        case draining
        case closed
    }

    /// A call the client opened and the server has not ended.
    private enum OpenStream {
        case awaitingRequest(Frame.Headers, RPCMethodDescriptor)
        case running(RPCMethodDescriptor, clientClosed: Bool)
    }

    private struct Streams {
        var open: [StreamID: OpenStream] = [:]
        var highestOpened: StreamID = 0
    }

    enum Action: Equatable {
        case none
        /// Send a frame: HELLO or a PING answer.
        case send(Frame)
        /// Answer a new call at once with TRAILERS: unknown method, too many calls, draining.
        case refuseCall(path: String, Frame.Trailers)
        /// Arm the deadline of a newly opened call.
        case armDeadline(StreamID, milliseconds: UInt32)
        /// Run the method: the request is complete.
        case startCall(Frame.Headers, RPCMethodDescriptor, request: ByteBuffer, clientClosed: Bool)
        /// Hand a further client message to the running call.
        case deliverClientMessage(StreamID, ByteBuffer, endStream: Bool)
        /// The client abandoned the call: stop it, send nothing.
        case cancelCall(StreamID, closeConnection: Bool)
        /// End a running call with this status: stop it and send TRAILERS.
        case endCall(Frame.Trailers, closeConnection: Bool)
        /// Send GOAWAY and close the connection.
        case closeWithGoAway(Frame.GoAway)
        /// Close without another frame (the peer left, or draining is over).
        case close
    }

    private var state: State = .awaitingHello
    /// The calls of an active or draining connection. Kept beside the state,
    /// not inside it: taken out of an enum to be changed, its dictionary would
    /// be copied on every frame.
    private var streams = Streams()
    private let configuration: Configuration
    /// The client's MAX_FRAME_SIZE: no frame we send may be larger.
    private(set) var peerMaxFrameSize: UInt32 = 16_384

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Whether any call is open: an idle connection may be closed, a busy one not.
    var hasOpenStreams: Bool {
        switch self.state {
        case .active, .draining: return !self.streams.open.isEmpty
        case .awaitingHello, .closed: return false
        }
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    var highestStreamID: StreamID {
        switch self.state {
        case .active, .draining: return self.streams.highestOpened
        case .awaitingHello, .closed: return 0
        }
    }

    // MARK: - Frames from the client

    mutating func frameReceived(_ frame: Frame) -> Action {
        switch self.state {
        case .closed:
            return .none
        case .awaitingHello:
            guard case .hello(let hello) = frame else {
                return self.protocolError("the first frame must be HELLO, not \(frame.typeName)")
            }
            return self.helloReceived(hello)
        case .active:
            return self.activeFrameReceived(frame, draining: false)
        case .draining:
            let action = self.activeFrameReceived(frame, draining: true)
            guard case .draining = self.state, self.streams.open.isEmpty else { return action }
            // The last call just ended: draining is over.
            self.state = .closed
            switch action {
            case .cancelCall(let streamID, _): return .cancelCall(streamID, closeConnection: true)
            case .endCall(let trailers, _): return .endCall(trailers, closeConnection: true)
            case .none, .send, .refuseCall, .armDeadline, .startCall, .deliverClientMessage, .closeWithGoAway, .close: return action
            }
        }
    }

    private mutating func helloReceived(_ hello: Frame.Hello) -> Action {
        guard let version = hello.versions.first(where: { self.configuration.supportedVersions.contains($0) }) else {
            self.state = .closed
            let ours = self.configuration.supportedVersions.map(String.init).joined(separator: ", ")
            return .closeWithGoAway(Frame.GoAway(lastStreamID: 0, errorCode: .unsupportedVersion, debug: "no common protocol version; this server speaks \(ours)"))
        }
        if let maxFrameSize = hello.value(of: .maxFrameSize) {
            guard (16_384...16_777_215).contains(maxFrameSize) else {
                return self.protocolError("MAX_FRAME_SIZE \(maxFrameSize) is outside 16384...16777215")
            }
            self.peerMaxFrameSize = maxFrameSize
        }
        self.state = .active
        self.streams = Streams()
        return .send(.hello(Frame.Hello(versions: [version], settings: self.configuration.settings)))
    }

    private mutating func activeFrameReceived(_ frame: Frame, draining: Bool) -> Action {
        switch frame {
        case .hello:
            return self.protocolError("HELLO may be sent only once")
        case .trailers:
            return self.protocolError("TRAILERS is sent by the server only")
        case .headers(let headers):
            return self.headersReceived(headers, draining: draining)
        case .message(let message):
            return self.messageReceived(message)
        case .cancel(let streamID):
            guard streamID <= self.streams.highestOpened else {
                return self.protocolError("CANCEL for stream \(streamID), which was never opened")
            }
            guard self.streams.open.removeValue(forKey: streamID) != nil else { return .none }
            return .cancelCall(streamID, closeConnection: false)
        case .ping(let ping):
            return ping.ack ? .none : .send(.ping(Frame.Ping(ack: true, payload: ping.payload)))
        case .goAway:
            // The client is leaving: no new calls will come, finish the open ones.
            if self.streams.open.isEmpty {
                self.state = .closed
                return .close
            }
            self.state = .draining
            return .none
        }
    }

    private mutating func headersReceived(_ headers: Frame.Headers, draining: Bool) -> Action {
        let streamID = headers.streamID
        guard streamID > self.streams.highestOpened else {
            return self.protocolError("HEADERS for stream \(streamID), not above the last opened stream \(self.streams.highestOpened)")
        }
        self.streams.highestOpened = streamID
        if draining {
            return .refuseCall(path: headers.path, Frame.Trailers(streamID: streamID, status: RPCStatus(code: .unavailable, message: "the server is shutting down; reconnect")))
        }
        guard let descriptor = self.configuration.methods[headers.path] else {
            return .refuseCall(path: headers.path, Frame.Trailers(streamID: streamID, status: RPCStatus(code: .unimplemented, message: "unknown method \(headers.path)")))
        }
        guard self.streams.open.count < self.configuration.maxConcurrentStreams else {
            let limit = self.configuration.maxConcurrentStreams
            return .refuseCall(path: headers.path, Frame.Trailers(streamID: streamID, status: RPCStatus(code: .resourceExhausted, message: "too many concurrent calls on this connection (limit \(limit))")))
        }
        self.streams.open[streamID] = .awaitingRequest(headers, descriptor)
        return headers.timeoutMilliseconds > 0 ? .armDeadline(streamID, milliseconds: headers.timeoutMilliseconds) : .none
    }

    private mutating func messageReceived(_ message: Frame.Message) -> Action {
        let streamID = message.streamID
        guard streamID <= self.streams.highestOpened else {
            return self.protocolError("MESSAGE for stream \(streamID), which was never opened")
        }
        guard let stream = self.streams.open[streamID] else {
            return .none  // It crossed our TRAILERS in flight.
        }
        switch stream {
        case .awaitingRequest(let headers, let descriptor):
            self.streams.open[streamID] = .running(descriptor, clientClosed: message.endStream)
            return .startCall(headers, descriptor, request: message.payload, clientClosed: message.endStream)
        case .running(let descriptor, let clientClosed):
            if clientClosed {
                return self.protocolError("MESSAGE on stream \(streamID) after END_STREAM")
            }
            guard descriptor.acceptsClientMessages else {
                self.streams.open.removeValue(forKey: streamID)
                let why = descriptor.kind == .unary
                    ? "a unary call carries exactly one request message"
                    : "\(descriptor.path) accepts no client messages after the request"
                let trailers = Frame.Trailers(streamID: streamID, status: RPCStatus(code: .invalidArgument, message: why))
                return .endCall(trailers, closeConnection: false)
            }
            self.streams.open[streamID] = .running(descriptor, clientClosed: message.endStream)
            return .deliverClientMessage(streamID, message.payload, endStream: message.endStream)
        }
    }

    // MARK: - Local events

    /// Whether a response may still be sent on `streamID`.
    func isRunning(_ streamID: StreamID) -> Bool {
        switch self.state {
        case .active, .draining:
            if case .running = self.streams.open[streamID] { return true }
            return false
        case .awaitingHello, .closed:
            return false
        }
    }

    /// The method ended: send its TRAILERS, unless the call was already ended.
    mutating func callFinished(_ streamID: StreamID, status: RPCStatus) -> Action {
        self.endStream(streamID, status: status)
    }

    /// The call's deadline passed before it ended.
    mutating func deadlineExpired(_ streamID: StreamID) -> Action {
        self.endStream(streamID, status: RPCStatus(code: .deadlineExceeded, message: "the call's deadline passed"))
    }

    private mutating func endStream(_ streamID: StreamID, status: RPCStatus) -> Action {
        switch self.state {
        case .active:
            guard self.streams.open.removeValue(forKey: streamID) != nil else { return .none }
            return .endCall(Frame.Trailers(streamID: streamID, status: status), closeConnection: false)
        case .draining:
            guard self.streams.open.removeValue(forKey: streamID) != nil else { return .none }
            let last = self.streams.open.isEmpty
            if last { self.state = .closed }
            return .endCall(Frame.Trailers(streamID: streamID, status: status), closeConnection: last)
        case .awaitingHello, .closed:
            return .none
        }
    }

    /// Start a graceful shutdown: GOAWAY now, close when the last call ends.
    ///
    /// Returns the GOAWAY to send (nil when already draining or closed), the
    /// long-lived streams to end with UNAVAILABLE, and whether to close at once.
    mutating func beginDraining() -> (goAway: Frame.GoAway?, streamsToEnd: [StreamID], closeNow: Bool) {
        switch self.state {
        case .awaitingHello:
            self.state = .closed
            return (Frame.GoAway(lastStreamID: 0, errorCode: .noError, debug: "server shutting down"), [], true)
        case .active:
            let goAway = Frame.GoAway(lastStreamID: self.streams.highestOpened, errorCode: .noError, debug: "server shutting down")
            if self.streams.open.isEmpty {
                self.state = .closed
                return (goAway, [], true)
            }
            self.state = .draining
            let streaming = self.streams.open.compactMap { streamID, stream -> StreamID? in
                switch stream {
                case .awaitingRequest(_, let descriptor), .running(let descriptor, _):
                    return descriptor.kind == .serverStreaming ? streamID : nil
                }
            }
            return (goAway, streaming.sorted(), false)
        case .draining, .closed:
            return (nil, [], false)
        }
    }

    /// A connection-level failure (a bad frame, a timeout): GOAWAY and close.
    mutating func connectionError(_ code: GoAwayCode, _ reason: String) -> Action {
        if case .closed = self.state { return .none }
        let lastStreamID = self.highestStreamID
        self.state = .closed
        return .closeWithGoAway(Frame.GoAway(lastStreamID: lastStreamID, errorCode: code, debug: reason))
    }

    /// The channel went away: every open call must be stopped.
    mutating func channelClosed() -> [StreamID] {
        defer { self.state = .closed }
        switch self.state {
        case .active, .draining: return Array(self.streams.open.keys)
        case .awaitingHello, .closed: return []
        }
    }

    private mutating func protocolError(_ reason: String) -> Action {
        self.connectionError(.protocolError, reason)
    }
}
