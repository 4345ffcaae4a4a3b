import NIOCore

/// Reads the fields of one frame's payload, refusing short or malformed input.
///
/// Each read throws a protocol error instead of returning nil, so the
/// per-type parsers read like the field tables in PROTOCOL.md.
struct FramePayloadReader {
    private var buffer: ByteBuffer
    private let type: FrameType

    init(_ payload: ByteBuffer, type: FrameType) {
        self.buffer = payload
        self.type = type
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(FrameError) -> T {
        guard let value = self.buffer.readInteger(as: T.self) else {
            throw .malformed("\(self.type) payload ends before its \(field)")
        }
        return value
    }

    mutating func bytes(count: Int, _ field: String) throws(FrameError) -> [UInt8] {
        guard let bytes = self.buffer.readBytes(length: count) else {
            throw .malformed("\(self.type) payload ends inside its \(field)")
        }
        return bytes
    }

    mutating func string<Length: FixedWidthInteger>(lengthAs _: Length.Type, _ field: String) throws(FrameError) -> String {
        let length = try self.integer(Length.self, "\(field) length")
        let bytes = try self.bytes(count: Int(length), field)
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .malformed("\(self.type) \(field) is not valid UTF-8")
        }
        return string
    }

    /// Everything left: for MESSAGE, the whole payload.
    mutating func rest() -> ByteBuffer {
        self.buffer.readSlice(length: self.buffer.readableBytes)!
    }

    /// Fields are over; anything left is a protocol error.
    func finish() throws(FrameError) {
        guard self.buffer.readableBytes == 0 else {
            throw .malformed("\(self.buffer.readableBytes) unexpected octets after the fields of a \(self.type) frame")
        }
    }
}
