import NIOCore

/// Turns bytes into frames, one complete frame at a time.
///
/// It keeps the header it has read while it waits for the payload, so a
/// frame split across reads (down to one octet each) decodes the same as a
/// whole one, and the size limit is enforced from the header alone.
public struct FrameParser: Sendable {
    private enum ReadState: Sendable {
        case waitingForHeader
        case waitingForPayload(FrameHeader)
    }

    private var state: ReadState = .waitingForHeader
    /// The largest payload accepted; larger frames are refused from their header.
    public var maxFrameSize: UInt32

    public init(maxFrameSize: UInt32) {
        self.maxFrameSize = maxFrameSize
    }

    /// Whether the parser holds a header whose payload has not arrived yet.
    public var isMidFrame: Bool {
        switch self.state {
        case .waitingForHeader: return false
        case .waitingForPayload: return true
        }
    }

    /// The next complete frame from `buffer`, or nil when more octets are needed.
    public mutating func nextFrame(from buffer: inout ByteBuffer) throws(FrameError) -> Frame? {
        let header: FrameHeader
        switch self.state {
        case .waitingForHeader:
            guard let read = try FrameHeader.read(from: &buffer, maxFrameSize: self.maxFrameSize) else { return nil }
            header = read
        case .waitingForPayload(let waiting):
            header = waiting
        }
        guard let payload = buffer.readSlice(length: Int(header.length)) else {
            self.state = .waitingForPayload(header)
            return nil
        }
        self.state = .waitingForHeader
        return try Self.parsePayload(payload, header: header)
    }

    private static func parsePayload(_ payload: ByteBuffer, header: FrameHeader) throws(FrameError) -> Frame {
        var reader = FramePayloadReader(payload, type: header.type)
        let frame: Frame
        switch header.type {
        case .hello:
            frame = .hello(try Self.parseHello(&reader))
        case .headers:
            frame = .headers(try Self.parseHeaders(&reader, streamID: header.streamID))
        case .message:
            let endStream = header.flags & FrameFlags.endStream != 0
            frame = .message(Frame.Message(streamID: header.streamID, endStream: endStream, payload: reader.rest()))
        case .trailers:
            let code = try reader.integer(UInt16.self, "status")
            let message = try reader.string(lengthAs: UInt16.self, "message")
            let detailsLength = try reader.integer(UInt32.self, "details length")
            let details = try reader.bytes(count: Int(detailsLength), "details")
            let status = RPCStatus(code: RPCStatus.Code(rawValue: code), message: message, details: details)
            frame = .trailers(Frame.Trailers(streamID: header.streamID, status: status))
        case .cancel:
            frame = .cancel(streamID: header.streamID)
        case .ping:
            let ack = header.flags & FrameFlags.ack != 0
            frame = .ping(Frame.Ping(ack: ack, payload: try reader.integer(UInt64.self, "payload")))
        case .goAway:
            let lastStreamID = try reader.integer(UInt32.self, "last stream id")
            let code = try reader.integer(UInt16.self, "error code")
            let debug = try reader.string(lengthAs: UInt16.self, "debug text")
            frame = .goAway(Frame.GoAway(lastStreamID: lastStreamID, errorCode: GoAwayCode(rawValue: code), debug: debug))
        }
        try reader.finish()
        return frame
    }

    private static func parseHello(_ reader: inout FramePayloadReader) throws(FrameError) -> Frame.Hello {
        guard try reader.bytes(count: 4, "magic") == FrameEncoding.helloMagic else {
            throw .malformed("HELLO does not start with the magic \"GHWP\"")
        }
        let versionCount = try reader.integer(UInt8.self, "version count")
        guard versionCount > 0 else { throw .malformed("HELLO lists no protocol version") }
        var versions: [UInt16] = []
        for _ in 0..<versionCount {
            versions.append(try reader.integer(UInt16.self, "version"))
        }
        let settingCount = try reader.integer(UInt8.self, "setting count")
        var settings: [Frame.Setting] = []
        for _ in 0..<settingCount {
            let id = try reader.integer(UInt16.self, "setting id")
            let value = try reader.integer(UInt32.self, "setting value")
            settings.append(Frame.Setting(id: id, value: value))
        }
        return Frame.Hello(versions: versions, settings: settings)
    }

    private static func parseHeaders(_ reader: inout FramePayloadReader, streamID: StreamID) throws(FrameError) -> Frame.Headers {
        let path = try reader.string(lengthAs: UInt16.self, "path")
        let timeout = try reader.integer(UInt32.self, "timeout")
        let count = try reader.integer(UInt16.self, "metadata count")
        var entries: [Metadata.Entry] = []
        for _ in 0..<count {
            let key = try reader.string(lengthAs: UInt8.self, "metadata key")
            guard Metadata.isValidKey(key) else {
                throw .malformed("metadata key \"\(key)\" is not lowercase [a-z0-9._-], 1-255 octets")
            }
            let valueLength = try reader.integer(UInt16.self, "metadata value length")
            entries.append(Metadata.Entry(key: key, value: try reader.bytes(count: Int(valueLength), "metadata value")))
        }
        return Frame.Headers(streamID: streamID, path: path, timeoutMilliseconds: timeout, metadata: Metadata(entries))
    }
}
