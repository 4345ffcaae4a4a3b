import NIOCore

/// gRPC's length-prefixed messages inside HTTP/2 DATA frames: a 1-byte
/// compressed flag, a 4-byte big-endian length, then the protobuf bytes.
///
/// Messages and DATA frames are independent: one frame may carry several
/// messages or a piece of one, so the reader buffers until a whole message is there.
enum GRPCMessageFraming {
    /// The prefix before every message.
    static let prefixLength = 5

    /// `message` with its prefix (never compressed: we offer no `grpc-encoding`).
    static func frame(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: Self.prefixLength + message.readableBytes)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.readableBytes))
        framed.writeImmutableBuffer(message)
        return framed
    }
}

/// Why a response's messages could not be read.
enum GRPCFramingError: Error, Hashable, CustomStringConvertible {
    /// The compressed flag was set although we never offered compression.
    case compressedMessage
    /// A message longer than we accept.
    case messageTooLarge(length: Int, limit: Int)
    /// The stream ended in the middle of a message.
    case truncated(bufferedBytes: Int)

    var description: String {
        switch self {
        case .compressedMessage: return "etcd sent a compressed gRPC message although none was offered"
        case .messageTooLarge(let length, let limit): return "etcd sent a \(length)-byte gRPC message; at most \(limit) are accepted"
        case .truncated(let buffered): return "the gRPC stream ended inside a message (\(buffered) bytes buffered)"
        }
    }
}

/// Reassembles gRPC messages from DATA frames, whatever their boundaries.
struct GRPCMessageReader {
    /// Where the reader is in the current message.
    private enum ReadState: Hashable {
        case waitingForPrefix
        case waitingForMessage(length: Int)
    }

    private var state: ReadState = .waitingForPrefix
    private var buffer: ByteBuffer?
    /// The largest message accepted; bigger ones fail before they are buffered.
    let maximumMessageLength: Int

    init(maximumMessageLength: Int) {
        self.maximumMessageLength = maximumMessageLength
    }

    /// Adds the bytes of one DATA frame.
    mutating func append(_ bytes: ByteBuffer) {
        if self.buffer == nil {
            self.buffer = bytes
        } else {
            self.buffer!.writeImmutableBuffer(bytes)
        }
    }

    /// The next whole message, or nil until more bytes arrive.
    mutating func nextMessage() throws(GRPCFramingError) -> ByteBuffer? {
        while true {
            switch self.state {
            case .waitingForPrefix:
                guard let buffer = self.buffer, buffer.readableBytes >= GRPCMessageFraming.prefixLength else { return nil }
                let flag = self.buffer!.readInteger(as: UInt8.self)!
                let length = Int(self.buffer!.readInteger(as: UInt32.self)!)
                guard flag == 0 else { throw .compressedMessage }
                guard length <= self.maximumMessageLength else {
                    throw .messageTooLarge(length: length, limit: self.maximumMessageLength)
                }
                self.state = .waitingForMessage(length: length)
            case .waitingForMessage(let length):
                guard let buffer = self.buffer, buffer.readableBytes >= length else { return nil }
                let message = self.buffer!.readSlice(length: length)!
                self.state = .waitingForPrefix
                if self.buffer!.readableBytes == 0 { self.buffer = nil }
                return message
            }
        }
    }

    /// Whether a message is partly read (an end of stream here is a truncation).
    var bufferedBytes: Int {
        switch self.state {
        case .waitingForPrefix: return self.buffer?.readableBytes ?? 0
        case .waitingForMessage: return GRPCMessageFraming.prefixLength + (self.buffer?.readableBytes ?? 0)
        }
    }
}
