import NIOCore
import NIOTestUtils
import Testing

@testable import GatehouseRPC

/// The frame codec: every frame type round-trips, any split of the input
/// decodes the same, and every malformed frame is refused with its code.
@Suite struct FrameCodecTests {
    static let sampleFrames: [Frame] = [
        .hello(Frame.Hello(versions: [1], settings: [Frame.Setting(.maxFrameSize, 1_048_576)])),
        .hello(Frame.Hello(versions: [2, 1], settings: [Frame.Setting(id: 0x7777, value: 9), Frame.Setting(.idleTimeoutMilliseconds, 300_000)])),
        .headers(Frame.Headers(streamID: 1, path: "/gatehouse.v1.Health/Check", timeoutMilliseconds: 5000)),
        .headers(Frame.Headers(streamID: 3, path: "/a.B/C", metadata: Metadata([.init(key: "x-trace", value: [1, 2]), .init(key: "x-trace", value: [])]))),
        .message(Frame.Message(streamID: 1, endStream: true, payload: ByteBuffer(bytes: [0x0A, 0x01, 0x41]))),
        .message(Frame.Message(streamID: 7, endStream: false, payload: ByteBuffer())),
        .trailers(Frame.Trailers(streamID: 1, status: .ok)),
        .trailers(Frame.Trailers(streamID: 9, status: RPCStatus(code: .failedPrecondition, message: "gate is locked: é", details: [1, 2, 3]))),
        .cancel(streamID: 5),
        .ping(Frame.Ping(ack: false, payload: 0x0102_0304_0506_0708)),
        .ping(Frame.Ping(ack: true, payload: 42)),
        .goAway(Frame.GoAway(lastStreamID: 11, errorCode: .noError, debug: "server shutting down")),
    ]

    private func encode(_ frames: [Frame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { frame.encode(into: &buffer) }
        return buffer
    }

    private func decodeAll(_ buffer: ByteBuffer, maxFrameSize: UInt32 = 1_048_576) throws(FrameError) -> [Frame] {
        var parser = FrameParser(maxFrameSize: maxFrameSize)
        var input = buffer
        var frames: [Frame] = []
        while let frame = try parser.nextFrame(from: &input) { frames.append(frame) }
        return frames
    }

    @Test(arguments: sampleFrames)
    func roundTrips(_ frame: Frame) throws {
        let decoded = try self.decodeAll(self.encode([frame]))
        #expect(decoded == [frame])
    }

    /// The byte-by-byte example of PROTOCOL.md section 8.
    @Test func theSpecsUnaryCallEncodesToItsHexDump() {
        let client: [Frame] = [
            .hello(Frame.Hello(versions: [1], settings: [Frame.Setting(.maxFrameSize, 1_048_576)])),
            .headers(Frame.Headers(streamID: 1, path: "/gatehouse.v1.Health/Check", timeoutMilliseconds: 5000)),
            .message(Frame.Message(streamID: 1, endStream: true, payload: ByteBuffer(bytes: [0x0A, 0x09] + Array("gatehouse".utf8)))),
        ]
        let server: [Frame] = [
            .hello(Frame.Hello(versions: [1], settings: RPCServerLimits().helloSettings)),
            .message(Frame.Message(streamID: 1, payload: ByteBuffer(bytes: [0x08, 0x01]))),
            .trailers(Frame.Trailers(streamID: 1, status: .ok)),
        ]
        #expect(
            self.encode(client).readableBytesView.hex
                == "0000000e0000000000004748575001000101000100100000"
                + "00000022010000000001001a2f67617465686f7573652e76312e4865616c74682f436865636b000013880000"
                + "0000000b0201000000010a0967617465686f757365"
        )
        #expect(
            self.encode(server).readableBytesView.hex
                == "0000002000000000000047485750010001040001001000000002000000640003000075300004000493e0"
                + "000000020200000000010801"
                + "000000080300000000010000000000000000"
        )
    }

    @Test func decodesTheSameWhenFedOneByteAtATime() throws {
        let input = self.encode(Self.sampleFrames)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, Self.sampleFrames)],
            decoderFactory: { FrameDecoder(maxFrameSize: 1_048_576) }
        )
    }

    @Test func refusesAnOversizedFrameFromItsHeaderAlone() {
        var header = ByteBuffer()
        header.writeMultipleIntegers(UInt32(1_048_577), FrameType.message.rawValue, UInt8(0), UInt32(1))
        #expect(throws: FrameError(.frameSizeError, "frame payload of 1048577 octets exceeds the maximum of 1048576")) {
            try self.decodeAll(header)
        }
    }

    @Test func acceptsAFrameExactlyAtTheLimit() throws {
        let payload = ByteBuffer(repeating: 7, count: 16_384)
        let frame = Frame.message(Frame.Message(streamID: 1, payload: payload))
        #expect(try self.decodeAll(self.encode([frame]), maxFrameSize: 16_384) == [frame])
    }

    @Test func waitsForATruncatedFrame() throws {
        var input = self.encode([Self.sampleFrames[2]])
        input.moveWriterIndex(to: input.writerIndex - 1)
        #expect(try self.decodeAll(input).isEmpty)
        var header = self.encode([Self.sampleFrames[2]])
        header.moveWriterIndex(to: 9)
        #expect(try self.decodeAll(header).isEmpty)
    }

    @Test func theConnectionEndingInsideAFrameIsAnError() throws {
        var input = self.encode([Self.sampleFrames[2]])
        input.moveWriterIndex(to: input.writerIndex - 3)
        var decoder = FrameDecoder(maxFrameSize: 1_048_576)
        #expect(try decoder.decode(buffer: &input) == nil)
        #expect(throws: FrameError.self) { try decoder.decodeLast(buffer: &input, seenEOF: true) }
    }

    /// Each malformed header or payload, and the code it must raise.
    static let malformed: [(String, [UInt8], GoAwayCode)] = [
        ("unknown type", [0, 0, 0, 0, 0x07, 0, 0, 0, 0, 1], .protocolError),
        ("undefined flag on HEADERS", [0, 0, 0, 0, 0x01, 0x01, 0, 0, 0, 1], .protocolError),
        ("undefined flag bit on MESSAGE", [0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 1], .protocolError),
        ("HELLO on stream 1", [0, 0, 0, 0, 0x00, 0, 0, 0, 0, 1], .protocolError),
        ("MESSAGE on stream 0", [0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0], .protocolError),
        ("high bit of the stream id", [0, 0, 0, 0, 0x04, 0, 0x80, 0, 0, 1], .protocolError),
        ("bad HELLO magic", [0, 0, 0, 6, 0x00, 0, 0, 0, 0, 0, 0x47, 0x48, 0x57, 0x51, 0, 0], .protocolError),
        ("HELLO without versions", [0, 0, 0, 6, 0x00, 0, 0, 0, 0, 0, 0x47, 0x48, 0x57, 0x50, 0, 0], .protocolError),
        ("HELLO cut inside a setting", [0, 0, 0, 11, 0x00, 0, 0, 0, 0, 0, 0x47, 0x48, 0x57, 0x50, 1, 0, 1, 1, 0, 1, 0], .protocolError),
        ("PING of 7 octets", [0, 0, 0, 7, 0x05, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7], .protocolError),
        ("CANCEL with a payload", [0, 0, 0, 1, 0x04, 0, 0, 0, 0, 1, 0], .protocolError),
        ("TRAILERS with a trailing octet", [0, 0, 0, 9, 0x03, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF], .protocolError),
        ("HEADERS path not UTF-8", [0, 0, 0, 9, 0x01, 0, 0, 0, 0, 1, 0, 1, 0xFF, 0, 0, 0, 0, 0, 0], .protocolError),
        ("HEADERS uppercase metadata key", [0, 0, 0, 13, 0x01, 0, 0, 0, 0, 1, 0, 1, 0x2F, 0, 0, 0, 0, 0, 1, 1, 0x41, 0, 0], .protocolError),
        ("GOAWAY debug not UTF-8", [0, 0, 0, 9, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xC3], .protocolError),
        ("2 GiB length", [0x80, 0, 0, 0, 0x02, 0, 0, 0, 0, 1], .frameSizeError),
    ]

    @Test(arguments: malformed)
    func refusesMalformedFrames(_ name: String, _ bytes: [UInt8], _ code: GoAwayCode) {
        do {
            let frames = try self.decodeAll(ByteBuffer(bytes: bytes))
            Issue.record("\(name): decoded \(frames) instead of failing")
        } catch {
            #expect(error.code == code, "\(name): \(error)")
        }
    }

    @Test func aValidFrameBeforeAMalformedOneIsStillDelivered() throws {
        var input = self.encode([.cancel(streamID: 1)])
        input.writeBytes([0, 0, 0, 0, 0x09, 0, 0, 0, 0, 1])
        var parser = FrameParser(maxFrameSize: 1_048_576)
        #expect(try parser.nextFrame(from: &input) == .cancel(streamID: 1))
        #expect(throws: FrameError.self) { try parser.nextFrame(from: &input) }
    }

    @Test func truncatesOverlongTextAtACharacterBoundary() throws {
        let long = String(repeating: "é", count: 40_000)  // 80,000 UTF-8 octets
        let frame = Frame.trailers(Frame.Trailers(streamID: 1, status: RPCStatus(code: .internal, message: long)))
        guard case .trailers(let decoded) = try self.decodeAll(self.encode([frame])).first else {
            Issue.record("no TRAILERS decoded")
            return
        }
        #expect(decoded.status.message.utf8.count <= 65_535)
        #expect(decoded.status.message.allSatisfy { $0 == "é" })
    }
}

extension Collection where Element == UInt8 {
    var hex: String {
        let digits = Array("0123456789abcdef")
        return String(self.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] })
    }
}
