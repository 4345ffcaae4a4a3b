import NIOCore

/// The channel-side frame decoder: bytes in, `Frame`s out.
///
/// A thin adapter over `FrameParser`; a `FrameError` it throws reaches the
/// connection handler through `errorCaught`, which answers with GOAWAY.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    private var parser: FrameParser

    public init(maxFrameSize: UInt32) {
        self.parser = FrameParser(maxFrameSize: maxFrameSize)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        try self.parser.nextFrame(from: &buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try self.decode(buffer: &buffer) { return frame }
        if seenEOF, self.parser.isMidFrame || buffer.readableBytes > 0 {
            throw FrameError.malformed("the connection ended inside a frame")
        }
        return nil
    }
}

/// The channel-side frame encoder: `Frame`s in, bytes out.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data: Frame, out: inout ByteBuffer) throws {
        data.encode(into: &out)
    }
}
