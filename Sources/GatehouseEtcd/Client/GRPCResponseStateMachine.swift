import NIOCore
import NIOHPACK

/// The response side of one gRPC call on one HTTP/2 stream, as a value: the
/// handler feeds it the frames etcd sends and performs what it returns.
///
/// A response is: HEADERS (`:status 200`, `content-type application/grpc…`),
/// any number of DATA frames holding length-prefixed messages, then HEADERS
/// with END_STREAM carrying `grpc-status` (the trailers). A call refused at
/// once is answered "trailers-only": one HEADERS frame with END_STREAM and the status.
struct GRPCResponseStateMachine {
    private enum State {
        /// Nothing received yet.
        case awaitingHeaders
        /// Headers received; messages may arrive.
        case receivingMessages(GRPCMessageReader)
        /// The status is known (or the stream broke): nothing more is read.
        case finished
    }

    /// What the handler does next.
    enum Action: Hashable {
        /// Nothing to do yet.
        case none
        /// Hand these messages to the caller, in order.
        case deliver([ByteBuffer])
        /// Hand these messages over, then end the call with `status`.
        case deliverAndFinish([ByteBuffer], GRPCStatus)
    }

    private var state: State = .awaitingHeaders
    private let maximumMessageLength: Int

    init(maximumMessageLength: Int) {
        self.maximumMessageLength = maximumMessageLength
    }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    /// A HEADERS frame: the response headers, the trailers, or both at once.
    mutating func headersReceived(_ headers: HPACKHeaders, endStream: Bool) -> Action {
        switch self.state {
        case .awaitingHeaders:
            if let httpStatus = headers.first(name: ":status"), httpStatus != "200" {
                self.state = .finished
                return .deliverAndFinish([], GRPCStatus.fromHTTPStatus(httpStatus))
            }
            if endStream {
                // Trailers-only: the status and nothing else.
                self.state = .finished
                return .deliverAndFinish([], Self.status(from: headers))
            }
            if let contentType = headers.first(name: "content-type"), !contentType.hasPrefix("application/grpc") {
                self.state = .finished
                return .deliverAndFinish([], GRPCStatus(code: GRPCStatus.unknown, message: "etcd answered content-type \(contentType), not application/grpc"))
            }
            self.state = .receivingMessages(GRPCMessageReader(maximumMessageLength: self.maximumMessageLength))
            return .none
        case .receivingMessages(let reader):
            self.state = .finished
            guard endStream else {
                return .deliverAndFinish([], GRPCStatus(code: GRPCStatus.internal, message: "etcd sent a second HEADERS frame that does not end the stream"))
            }
            guard reader.bufferedBytes == 0 else {
                return .deliverAndFinish([], GRPCStatus(code: GRPCStatus.internal, message: GRPCFramingError.truncated(bufferedBytes: reader.bufferedBytes).description))
            }
            return .deliverAndFinish([], Self.status(from: headers))
        case .finished:
            return .none
        }
    }

    /// A DATA frame's bytes.
    mutating func dataReceived(_ bytes: ByteBuffer, endStream: Bool) -> Action {
        switch self.state {
        case .awaitingHeaders:
            self.state = .finished
            return .deliverAndFinish([], GRPCStatus(code: GRPCStatus.internal, message: "etcd sent DATA before the response headers"))
        case .receivingMessages(var reader):
            reader.append(bytes)
            var messages: [ByteBuffer] = []
            do {
                while let message = try reader.nextMessage() {
                    messages.append(message)
                }
            } catch {
                self.state = .finished
                return .deliverAndFinish(messages, GRPCStatus(code: GRPCStatus.internal, message: error.description))
            }
            if endStream {
                self.state = .finished
                return .deliverAndFinish(messages, GRPCStatus(code: GRPCStatus.internal, message: "etcd ended the stream without trailers (no grpc-status)"))
            }
            self.state = .receivingMessages(reader)
            return messages.isEmpty ? .none : .deliver(messages)
        case .finished:
            return .none
        }
    }

    /// The stream ended some other way (reset, connection lost): the call has
    /// no status, and the caller decides what that means.
    /// - Returns: true when the call had not finished yet.
    mutating func streamClosed() -> Bool {
        switch self.state {
        case .awaitingHeaders, .receivingMessages:
            self.state = .finished
            return true
        case .finished:
            return false
        }
    }

    private static func status(from headers: HPACKHeaders) -> GRPCStatus {
        GRPCStatus(grpcStatus: headers.first(name: "grpc-status"), grpcMessage: headers.first(name: "grpc-message"))
    }
}
