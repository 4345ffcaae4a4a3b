import NIOCore

/// The server's side of one connection, as a value: frames and local events
/// in, actions out (PROTOCOL.md section 3).
///
/// It decides everything the protocol decides — version negotiation, stream
/// id rules, concurrency and metadata limits, unknown methods, draining — and
/// performs no I/O, so every rule is tested without a channel.
///
/// A call keeps its place among the `maxConcurrentStreams` until its work
/// has ended, not only until it ended on the wire: a client that cancels
/// calls as fast as it opens them (HTTP/2's rapid reset) cannot have more
/// methods running than the limit. The connection reports the end of the
/// work with ``callFinished(_:status:)`` or ``workEnded(_:)``.
struct ServerConnectionStateMachine {
    struct Configuration {
        var supportedVersions: [UInt16]
        var settings: [Frame.Setting]
        var maxConcurrentStreams: Int
        var methods: [String: RPCMethodDescriptor]
        /// Metadata one call may carry (``Metadata/size``).
        var maxMetadataPerCall: Int = .max
        /// Metadata the open calls may hold together.
        var maxMetadataPerConnection: Int = .max
    }

    private enum State {
        case awaitingHello
        case active
        /// No new calls; the connection closes once the last one ends.
        case draining
        case closed
    }

    /// A call the client opened whose work has not ended.
    private enum OpenStream {
        case awaitingRequest(Frame.Headers, RPCMethodDescriptor)
        case running(RPCMethodDescriptor, clientClosed: Bool, metadataSize: Int)
        /// Ended on the wire (cancelled, TRAILERS sent) while its method still
        /// runs: nothing more is sent or delivered, but it still counts.
        case stopping(metadataSize: Int)

        var metadataSize: Int {
            switch self {
            case .awaitingRequest(let headers, _): return headers.metadata.size
            case .running(_, _, let size), .stopping(let size): return size
            }
        }
    }

    private struct Streams {
        var open: [StreamID: OpenStream] = [:]
        var highestOpened: StreamID = 0
        /// The metadata the open calls hold, by ``Metadata/size``.
        var metadataHeld = 0

        mutating func remove(_ streamID: StreamID) -> OpenStream? {
            guard let stream = self.open.removeValue(forKey: streamID) else { return nil }
            self.metadataHeld -= stream.metadataSize
            return stream
        }
    }

    enum Action: Equatable {
        case none
        /// Send a frame: HELLO or a PING answer.
        case send(Frame)
        /// Answer a new call at once with TRAILERS: unknown method, too many calls or too much metadata, draining.
        case refuseCall(path: String, Frame.Trailers)
        /// A call was opened: check it may run (``RPCMethod/checked(by:)``), arm its deadline.
        case openCall(Frame.Headers, RPCMethodDescriptor)
        /// Run the method: the request is complete.
        case startCall(Frame.Headers, RPCMethodDescriptor, request: ByteBuffer, clientClosed: Bool)
        /// Hand a further client message to the running call.
        case deliverClientMessage(StreamID, ByteBuffer, endStream: Bool)
        /// The client abandoned the call: stop it, send nothing. `wasStarted`:
        /// its method was started (the call keeps its place until its work
        /// ends); otherwise it is gone already.
        case cancelCall(StreamID, wasStarted: Bool, closeConnection: Bool)
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
            case .cancelCall(let streamID, let wasStarted, _): return .cancelCall(streamID, wasStarted: wasStarted, closeConnection: true)
            case .endCall(let trailers, _): return .endCall(trailers, closeConnection: true)
            case .none, .send, .refuseCall, .openCall, .startCall, .deliverClientMessage, .closeWithGoAway, .close: return action
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
            switch self.streams.open[streamID] {
            case nil, .stopping:
                return .none
            case .awaitingRequest:
                _ = self.streams.remove(streamID)
                return .cancelCall(streamID, wasStarted: false, closeConnection: false)
            case .running(_, _, let size):
                self.streams.open[streamID] = .stopping(metadataSize: size)
                return .cancelCall(streamID, wasStarted: true, closeConnection: false)
            }
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
        let size = headers.metadata.size
        guard size <= self.configuration.maxMetadataPerCall else {
            let message = "the call's metadata of \(size) octets exceeds the limit of \(self.configuration.maxMetadataPerCall) per call"
            return .refuseCall(path: headers.path, Frame.Trailers(streamID: streamID, status: RPCStatus(code: .resourceExhausted, message: message)))
        }
        guard self.streams.metadataHeld + size <= self.configuration.maxMetadataPerConnection else {
            let message = "the open calls' metadata would exceed the limit of \(self.configuration.maxMetadataPerConnection) octets per connection"
            return .refuseCall(path: headers.path, Frame.Trailers(streamID: streamID, status: RPCStatus(code: .resourceExhausted, message: message)))
        }
        self.streams.open[streamID] = .awaitingRequest(headers, descriptor)
        self.streams.metadataHeld += size
        return .openCall(headers, descriptor)
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
        case .stopping:
            return .none  // It crossed our TRAILERS, or followed the client's CANCEL.
        case .awaitingRequest(let headers, let descriptor):
            self.streams.open[streamID] = .running(descriptor, clientClosed: message.endStream, metadataSize: headers.metadata.size)
            return .startCall(headers, descriptor, request: message.payload, clientClosed: message.endStream)
        case .running(let descriptor, let clientClosed, let size):
            if clientClosed {
                return self.protocolError("MESSAGE on stream \(streamID) after END_STREAM")
            }
            guard descriptor.acceptsClientMessages else {
                self.streams.open[streamID] = .stopping(metadataSize: size)
                let why = descriptor.kind == .unary
                    ? "a unary call carries exactly one request message"
                    : "\(descriptor.path) accepts no client messages after the request"
                let trailers = Frame.Trailers(streamID: streamID, status: RPCStatus(code: .invalidArgument, message: why))
                return .endCall(trailers, closeConnection: false)
            }
            self.streams.open[streamID] = .running(descriptor, clientClosed: message.endStream, metadataSize: size)
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

    /// The method returned (or its check refused the call): send its
    /// TRAILERS, unless the call already ended on the wire; either way the
    /// call's work is over and it no longer counts.
    mutating func callFinished(_ streamID: StreamID, status: RPCStatus) -> Action {
        guard let stream = self.openStream(streamID) else { return .none }
        _ = self.streams.remove(streamID)
        let last = self.drainedByRemoval()
        switch stream {
        case .awaitingRequest, .running:
            return .endCall(Frame.Trailers(streamID: streamID, status: status), closeConnection: last)
        case .stopping:
            return last ? .close : .none
        }
    }

    /// The work of a call that ended on the wire is over (its method was
    /// stopped and returned nothing): it no longer counts against the limit.
    mutating func workEnded(_ streamID: StreamID) -> Action {
        guard case .stopping = self.openStream(streamID) else { return .none }
        _ = self.streams.remove(streamID)
        return self.drainedByRemoval() ? .close : .none
    }

    /// The call's deadline passed before it ended.
    mutating func deadlineExpired(_ streamID: StreamID) -> Action {
        self.endCallEarly(streamID, status: RPCStatus(code: .deadlineExceeded, message: "the call's deadline passed"))
    }

    /// The server ends a call before its method returned (deadline, draining,
    /// unread client messages): TRAILERS now; a running method is stopped and
    /// the call counts until it has returned.
    mutating func endCallEarly(_ streamID: StreamID, status: RPCStatus) -> Action {
        switch self.openStream(streamID) {
        case nil, .stopping:
            return .none
        case .awaitingRequest:
            return self.callFinished(streamID, status: status)
        case .running(_, _, let size):
            self.streams.open[streamID] = .stopping(metadataSize: size)
            return .endCall(Frame.Trailers(streamID: streamID, status: status), closeConnection: false)
        }
    }

    /// The open stream, while the connection is active or draining.
    private func openStream(_ streamID: StreamID) -> OpenStream? {
        switch self.state {
        case .active, .draining: return self.streams.open[streamID]
        case .awaitingHello, .closed: return nil
        }
    }

    /// After a call was removed: whether that ended draining (and the connection).
    private mutating func drainedByRemoval() -> Bool {
        guard case .draining = self.state, self.streams.open.isEmpty else { return false }
        self.state = .closed
        return true
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
                case .awaitingRequest(_, let descriptor), .running(let descriptor, _, _):
                    return descriptor.kind == .serverStreaming ? streamID : nil
                case .stopping:
                    return nil
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

    /// The channel went away: every open call must be stopped. Forgets
    /// every stream, so no call's HEADERS outlive the connection.
    mutating func channelClosed() -> [StreamID] {
        let open = Array(self.streams.open.keys)
        self.state = .closed
        self.streams = Streams()
        return open
    }

    private mutating func protocolError(_ reason: String) -> Action {
        self.connectionError(.protocolError, reason)
    }
}
