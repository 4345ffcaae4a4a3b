import Foundation
import NIOCore
import Testing

@testable import GatehouseRPC

/// Checks the Swift codec against `Tests/Conformance/frames.json`, the
/// vectors every implementation of PROTOCOL.md must pass.
@Suite struct ConformanceVectorTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [UInt8]
        var frames: [Frame]
        var error: String?

        var testDescription: String { self.name }
    }

    static let vectorsURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Conformance/frames.json")

    static func loadVectors() throws -> [Vector] {
        let data = try Data(contentsOf: Self.vectorsURL)
        guard let cases = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw VectorError("frames.json is not a list of objects")
        }
        return try cases.map { object in
            guard let name = object["name"] as? String, let hex = object["hex"] as? String else {
                throw VectorError("a case lacks name or hex: \(object)")
            }
            let frames = try (object["frames"] as? [[String: Any]] ?? []).map(Self.frame(from:))
            return Vector(name: name, input: try Self.bytes(hex), frames: frames, error: object["error"] as? String)
        }
    }

    @Test func theVectorFileCoversEveryFrameTypeAndError() throws {
        let vectors = try Self.loadVectors()
        #expect(vectors.count >= 40)
        let names = Set(vectors.flatMap(\.frames).map(\.typeName))
        #expect(names == ["HELLO", "HEADERS", "MESSAGE", "TRAILERS", "CANCEL", "PING", "GOAWAY"])
        #expect(Set(vectors.compactMap(\.error)) == ["PROTOCOL_ERROR", "FRAME_SIZE_ERROR", "INCOMPLETE"])
    }

    @Test(arguments: try loadVectors())
    func decodesAsSpecified(_ vector: Vector) {
        var parser = FrameParser(maxFrameSize: 1_048_576)
        var input = ByteBuffer(bytes: vector.input)
        var decoded: [Frame] = []
        var raised: String?
        do {
            while let frame = try parser.nextFrame(from: &input) { decoded.append(frame) }
            if parser.isMidFrame || input.readableBytes > 0 { raised = "INCOMPLETE" }
        } catch {
            raised = "\(error.code)"
        }
        #expect(decoded == vector.frames)
        #expect(raised == vector.error)
    }

    @Test(arguments: try loadVectors().filter { $0.error == nil })
    func reencodesToTheSameOctets(_ vector: Vector) {
        var buffer = ByteBuffer()
        for frame in vector.frames { frame.encode(into: &buffer) }
        #expect(Array(buffer.readableBytesView) == vector.input)
    }

    // MARK: - JSON to frames, as PROTOCOL.md's table describes them

    struct VectorError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func bytes(_ hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { throw VectorError("odd hex length: \(hex)") }
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                throw VectorError("bad hex: \(hex)")
            }
            return byte
        }
    }

    static func frame(from object: [String: Any]) throws -> Frame {
        func int(_ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw VectorError("\(key) missing in \(object)") }
            return value
        }
        func string(_ key: String) throws -> String {
            guard let value = object[key] as? String else { throw VectorError("\(key) missing in \(object)") }
            return value
        }
        func flag(_ key: String) throws -> Bool {
            guard let value = object[key] as? Bool else { throw VectorError("\(key) missing in \(object)") }
            return value
        }
        switch object["type"] as? String {
        case "HELLO":
            let versions = (object["versions"] as? [Int] ?? []).map(UInt16.init)
            let settings = (object["settings"] as? [[Int]] ?? []).map { Frame.Setting(id: UInt16($0[0]), value: UInt32($0[1])) }
            return .hello(Frame.Hello(versions: versions, settings: settings))
        case "HEADERS":
            let entries = try (object["metadata"] as? [[String]] ?? []).map { Metadata.Entry(key: $0[0], value: try Self.bytes($0[1])) }
            return .headers(
                Frame.Headers(
                    streamID: StreamID(try int("stream_id")),
                    path: try string("path"),
                    timeoutMilliseconds: UInt32(try int("timeout_ms")),
                    metadata: Metadata(entries)
                )
            )
        case "MESSAGE":
            let payload = ByteBuffer(bytes: try Self.bytes(try string("payload")))
            return .message(Frame.Message(streamID: StreamID(try int("stream_id")), endStream: try flag("end_stream"), payload: payload))
        case "TRAILERS":
            let status = RPCStatus(
                code: RPCStatus.Code(rawValue: UInt16(try int("status"))),
                message: try string("message"),
                details: try Self.bytes(try string("details"))
            )
            return .trailers(Frame.Trailers(streamID: StreamID(try int("stream_id")), status: status))
        case "CANCEL":
            return .cancel(streamID: StreamID(try int("stream_id")))
        case "PING":
            let payload = try Self.bytes(try string("payload"))
            guard payload.count == 8 else { throw VectorError("PING payload must be 8 octets in \(object)") }
            return .ping(Frame.Ping(ack: try flag("ack"), payload: payload.reduce(0) { $0 << 8 | UInt64($1) }))
        case "GOAWAY":
            return .goAway(
                Frame.GoAway(
                    lastStreamID: StreamID(try int("last_stream_id")),
                    errorCode: GoAwayCode(rawValue: UInt16(try int("error_code"))),
                    debug: try string("debug")
                )
            )
        default:
            throw VectorError("unknown frame type in \(object)")
        }
    }
}
