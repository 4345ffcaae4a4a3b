import NIOCore

/// A call's stream id. 0 is the connection itself; calls use 1 … 2³¹−1.
public typealias StreamID = UInt32

/// One frame of the Gatehouse wire protocol (PROTOCOL.md section 2).
///
/// Frames are plain values: the codec turns them into bytes and back, the
/// connection state machines decide what they mean.
public enum Frame: Hashable, Sendable {
    case hello(Hello)
    case headers(Headers)
    case message(Message)
    case trailers(Trailers)
    case cancel(streamID: StreamID)
    case ping(Ping)
    case goAway(GoAway)

    /// The type octet this frame is sent with.
    public var type: FrameType {
        switch self {
        case .hello: return .hello
        case .headers: return .headers
        case .message: return .message
        case .trailers: return .trailers
        case .cancel: return .cancel
        case .ping: return .ping
        case .goAway: return .goAway
        }
    }

    /// The frame type's name as PROTOCOL.md spells it, for messages.
    var typeName: String { self.type.description }

    /// The stream the frame belongs to; 0 for connection frames.
    public var streamID: StreamID {
        switch self {
        case .hello, .ping, .goAway: return 0
        case .headers(let headers): return headers.streamID
        case .message(let message): return message.streamID
        case .trailers(let trailers): return trailers.streamID
        case .cancel(let streamID): return streamID
        }
    }
}

extension Frame {
    /// The version handshake, first frame in each direction.
    public struct Hello: Hashable, Sendable {
        /// Protocol versions, most preferred first.
        public var versions: [UInt16]
        /// Settings as sent, in order; unknown ids are kept so they can be re-encoded.
        public var settings: [Setting]

        public init(versions: [UInt16], settings: [Setting]) {
            self.versions = versions
            self.settings = settings
        }

        /// The value of the last setting with this id, if any.
        public func value(of id: Setting.ID) -> UInt32? {
            self.settings.last(where: { $0.id == id.rawValue })?.value
        }
    }

    /// One HELLO setting: an id and a 32-bit value.
    public struct Setting: Hashable, Sendable {
        /// The settings this version of the protocol defines.
        public enum ID: UInt16, Sendable {
            case maxFrameSize = 1
            case maxConcurrentStreams = 2
            case keepaliveIntervalMilliseconds = 3
            case idleTimeoutMilliseconds = 4
        }

        public var id: UInt16
        public var value: UInt32

        public init(id: UInt16, value: UInt32) {
            self.id = id
            self.value = value
        }

        public init(_ id: ID, _ value: UInt32) {
            self.init(id: id.rawValue, value: value)
        }
    }

    /// Opens a call: the method and its deadline and metadata.
    public struct Headers: Hashable, Sendable {
        public var streamID: StreamID
        public var path: String
        /// The deadline relative to receipt, in milliseconds; 0 means none.
        public var timeoutMilliseconds: UInt32
        public var metadata: Metadata

        public init(streamID: StreamID, path: String, timeoutMilliseconds: UInt32 = 0, metadata: Metadata = Metadata()) {
            self.streamID = streamID
            self.path = path
            self.timeoutMilliseconds = timeoutMilliseconds
            self.metadata = metadata
        }
    }

    /// One serialized protobuf message.
    public struct Message: Hashable, Sendable {
        public var streamID: StreamID
        /// Client to server only: the client sends nothing more on this call.
        public var endStream: Bool
        public var payload: ByteBuffer

        public init(streamID: StreamID, endStream: Bool = false, payload: ByteBuffer) {
            self.streamID = streamID
            self.endStream = endStream
            self.payload = payload
        }
    }

    /// A call's outcome, its last frame.
    public struct Trailers: Hashable, Sendable {
        public var streamID: StreamID
        public var status: RPCStatus

        public init(streamID: StreamID, status: RPCStatus) {
            self.streamID = streamID
            self.status = status
        }
    }

    /// Keepalive probe, or its answer when `ack` is set.
    public struct Ping: Hashable, Sendable {
        public var ack: Bool
        /// Always exactly 8 octets.
        public var payload: UInt64

        public init(ack: Bool, payload: UInt64) {
            self.ack = ack
            self.payload = payload
        }
    }

    /// The sender is leaving: calls above `lastStreamID` were not processed.
    public struct GoAway: Hashable, Sendable {
        public var lastStreamID: StreamID
        public var errorCode: GoAwayCode
        public var debug: String

        public init(lastStreamID: StreamID, errorCode: GoAwayCode, debug: String) {
            self.lastStreamID = lastStreamID
            self.errorCode = errorCode
            self.debug = debug
        }
    }
}
