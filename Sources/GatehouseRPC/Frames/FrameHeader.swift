import NIOCore

/// The fixed 10-octet header in front of every frame.
struct FrameHeader: Hashable, Sendable {
    static let size = 10

    var length: UInt32
    var type: FrameType
    var flags: UInt8
    var streamID: StreamID

    /// Reads and validates a header, before any of the payload is looked at.
    ///
    /// Everything the header alone can tell is checked here, the payload
    /// length first, so an oversized or impossible frame is refused without
    /// buffering a single octet of its payload.
    static func read(from buffer: inout ByteBuffer, maxFrameSize: UInt32) throws(FrameError) -> FrameHeader? {
        guard let (length, rawType, flags, streamID) = buffer.readMultipleIntegers(as: (UInt32, UInt8, UInt8, UInt32).self) else {
            return nil
        }
        guard length <= maxFrameSize else {
            throw FrameError(.frameSizeError, "frame payload of \(length) octets exceeds the maximum of \(maxFrameSize)")
        }
        guard let type = FrameType(rawValue: rawType) else {
            throw .malformed("unknown frame type 0x\(String(rawType, radix: 16))")
        }
        guard streamID & 0x8000_0000 == 0 else {
            throw .malformed("stream id has its reserved high bit set")
        }
        if type.isConnectionFrame, streamID != 0 {
            throw .malformed("\(type) frame on stream \(streamID); it belongs on stream 0")
        }
        if !type.isConnectionFrame, streamID == 0 {
            throw .malformed("\(type) frame on stream 0; it needs a call's stream")
        }
        guard flags & ~type.definedFlags == 0 else {
            throw .malformed("undefined flags 0x\(String(flags, radix: 16)) on \(type) frame")
        }
        if type == .ping, length != 8 {
            throw .malformed("PING payload must be 8 octets, not \(length)")
        }
        if type == .cancel, length != 0 {
            throw .malformed("CANCEL carries no payload, not \(length) octets")
        }
        return FrameHeader(length: length, type: type, flags: flags, streamID: streamID)
    }

    /// Fills in a header whose 10 octets were reserved before its payload was written.
    func set(in buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(self.length, at: index)
        buffer.setInteger(self.type.rawValue, at: index + 4)
        buffer.setInteger(self.flags, at: index + 5)
        buffer.setInteger(self.streamID, at: index + 6)
    }
}
