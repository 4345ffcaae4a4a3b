import NIOCore

/// Constants of the frame layout shared by the parser and the encoder.
enum FrameEncoding {
    /// "GHWP": the first four octets of every HELLO payload.
    static let helloMagic: [UInt8] = Array("GHWP".utf8)
}

extension Frame {
    /// Appends the frame's wire form (header and payload) to `buffer`.
    ///
    /// The payload is written first, after a placeholder header, so its
    /// length is known without encoding twice.
    public func encode(into buffer: inout ByteBuffer) {
        let headerIndex = buffer.writerIndex
        buffer.writeRepeatingByte(0, count: FrameHeader.size)
        let payloadStart = buffer.writerIndex
        let flags = self.writePayload(into: &buffer)
        let length = UInt32(buffer.writerIndex - payloadStart)
        FrameHeader(length: length, type: self.type, flags: flags, streamID: self.streamID).set(in: &buffer, at: headerIndex)
    }

    /// Writes the payload and returns the header flags it needs.
    private func writePayload(into buffer: inout ByteBuffer) -> UInt8 {
        switch self {
        case .hello(let hello):
            buffer.writeBytes(FrameEncoding.helloMagic)
            buffer.writeInteger(UInt8(hello.versions.count))
            for version in hello.versions { buffer.writeInteger(version) }
            buffer.writeInteger(UInt8(hello.settings.count))
            for setting in hello.settings { buffer.writeMultipleIntegers(setting.id, setting.value) }
            return 0
        case .headers(let headers):
            buffer.writeLengthPrefixedString(headers.path, as: UInt16.self)
            buffer.writeInteger(headers.timeoutMilliseconds)
            buffer.writeInteger(UInt16(headers.metadata.count))
            for entry in headers.metadata {
                buffer.writeLengthPrefixedString(entry.key, as: UInt8.self)
                buffer.writeInteger(UInt16(entry.value.count))
                buffer.writeBytes(entry.value)
            }
            return 0
        case .message(let message):
            var payload = message.payload
            buffer.writeBuffer(&payload)
            return message.endStream ? FrameFlags.endStream : 0
        case .trailers(let trailers):
            buffer.writeInteger(trailers.status.code.rawValue)
            buffer.writeLengthPrefixedString(trailers.status.message, as: UInt16.self, truncatingTo: Int(UInt16.max))
            buffer.writeInteger(UInt32(trailers.status.details.count))
            buffer.writeBytes(trailers.status.details)
            return 0
        case .cancel:
            return 0
        case .ping(let ping):
            buffer.writeInteger(ping.payload)
            return ping.ack ? FrameFlags.ack : 0
        case .goAway(let goAway):
            buffer.writeInteger(goAway.lastStreamID)
            buffer.writeInteger(goAway.errorCode.rawValue)
            buffer.writeLengthPrefixedString(goAway.debug, as: UInt16.self, truncatingTo: 1024)
            return 0
        }
    }
}

extension ByteBuffer {
    /// Writes a length-prefixed UTF-8 string, cut at a character boundary to `limit` octets.
    fileprivate mutating func writeLengthPrefixedString<Length: FixedWidthInteger>(
        _ string: String,
        as _: Length.Type,
        truncatingTo limit: Int = Int(Length.max)
    ) {
        var utf8 = Array(string.utf8)
        if utf8.count > limit {
            var cut = limit
            // Step back over UTF-8 continuation octets (10xxxxxx) so the text stays valid.
            while cut > 0, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
            utf8 = Array(utf8[..<cut])
        }
        self.writeInteger(Length(utf8.count))
        self.writeBytes(utf8)
    }
}
