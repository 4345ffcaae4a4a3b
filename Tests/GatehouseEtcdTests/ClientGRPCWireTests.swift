@testable import GatehouseEtcd
import NIOCore
import NIOHPACK
import Testing

@Suite("etcd client: gRPC framing, status and timeout headers")
struct ClientGRPCWireTests {
    private func framed(_ messages: [String]) -> ByteBuffer {
        var all = ByteBuffer()
        for message in messages {
            var framed = GRPCMessageFraming.frame(ByteBuffer(string: message), allocator: ByteBufferAllocator())
            all.writeBuffer(&framed)
        }
        return all
    }

    @Test("a framed message has flag 0 and a big-endian length")
    func framing() {
        let framed = GRPCMessageFraming.frame(ByteBuffer(string: "abc"), allocator: ByteBufferAllocator())
        #expect(Array(framed.readableBytesView) == [0, 0, 0, 0, 3, 0x61, 0x62, 0x63])
    }

    @Test("messages are reassembled whatever the DATA frame boundaries, even one byte at a time")
    func reassemblesByteByByte() throws {
        let bytes = self.framed(["first", "", "third message"])
        var reader = GRPCMessageReader(maximumMessageLength: 1024)
        var messages: [String] = []
        for byte in bytes.readableBytesView {
            reader.append(ByteBuffer(bytes: [byte]))
            while let message = try reader.nextMessage() {
                messages.append(String(buffer: message))
            }
        }
        #expect(messages == ["first", "", "third message"])
        #expect(reader.bufferedBytes == 0)
    }

    @Test("a compressed or oversized message is refused before it is buffered")
    func refusesCompressedAndOversized() {
        var compressed = GRPCMessageReader(maximumMessageLength: 1024)
        compressed.append(ByteBuffer(bytes: [1, 0, 0, 0, 1, 0x61]))
        #expect(throws: GRPCFramingError.compressedMessage) { try compressed.nextMessage() }

        var large = GRPCMessageReader(maximumMessageLength: 16)
        large.append(ByteBuffer(bytes: [0, 0, 0, 1, 0]))
        #expect(throws: GRPCFramingError.messageTooLarge(length: 256, limit: 16)) { try large.nextMessage() }
    }

    @Test("grpc-message is percent-decoded; malformed escapes are kept")
    func percentDecoding() {
        #expect(GRPCStatus.percentDecoded("etcdserver%3A no leader") == "etcdserver: no leader")
        #expect(GRPCStatus.percentDecoded("caf%C3%A9 100%") == "café 100%")
        #expect(GRPCStatus.percentDecoded("%zz") == "%zz")
    }

    @Test("grpc-timeout is whole milliseconds rounded up, seconds when too long, never 0")
    func timeoutHeader() {
        #expect(GRPCTimeout.headerValue(.milliseconds(5000)) == "5000m")
        #expect(GRPCTimeout.headerValue(.microseconds(1500)) == "2m")
        #expect(GRPCTimeout.headerValue(.nanoseconds(0)) == "1m")
        #expect(GRPCTimeout.headerValue(.seconds(200_000)) == "200000S")
    }

    @Test("statuses map to EtcdError codes; only pre-raft refusals of a sent write are known unapplied")
    func statusMapping() {
        let noLeader = EtcdError.from(GRPCStatus(code: 14, message: "etcdserver: no leader"), path: "/p", endpoint: "e", requestSent: true)
        #expect(noLeader.code == .unavailable)
        #expect(!noLeader.mayHaveApplied)
        let timedOut = EtcdError.from(GRPCStatus(code: 14, message: "etcdserver: request timed out"), path: "/p", endpoint: "e", requestSent: true)
        #expect(timedOut.code == .unavailable)
        #expect(timedOut.mayHaveApplied)
        let deadline = EtcdError.from(GRPCStatus(code: 4, message: "context deadline exceeded"), path: "/p", endpoint: "e", requestSent: true)
        #expect(deadline.code == .deadlineExceeded)
        #expect(deadline.mayHaveApplied)
        let invalid = EtcdError.from(GRPCStatus(code: 3, message: "etcdserver: duplicate key given in txn request"), path: "/p", endpoint: "e", requestSent: true)
        #expect(invalid.code == .rejected(grpcStatus: 3))
        #expect(!invalid.mayHaveApplied)
    }
}

@Suite("etcd client: the response state machine")
struct ClientResponseStateMachineTests {
    private let okHeaders = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")])

    @Test("headers, messages split over DATA frames, then trailers with OK")
    func normalResponse() {
        var machine = GRPCResponseStateMachine(maximumMessageLength: 1024)
        #expect(machine.headersReceived(self.okHeaders, endStream: false) == .none)
        var message = GRPCMessageFraming.frame(ByteBuffer(string: "hello"), allocator: ByteBufferAllocator())
        let head = message.readSlice(length: 3)!
        #expect(machine.dataReceived(head, endStream: false) == .none)
        #expect(machine.dataReceived(message, endStream: false) == .deliver([ByteBuffer(string: "hello")]))
        let trailers = HPACKHeaders([("grpc-status", "0")])
        #expect(machine.headersReceived(trailers, endStream: true) == .deliverAndFinish([], GRPCStatus(code: 0, message: "")))
        #expect(machine.isFinished)
        let closedAfterStatus = machine.streamClosed()
        #expect(!closedAfterStatus)
    }

    @Test("a trailers-only refusal carries the decoded status")
    func trailersOnly() {
        var machine = GRPCResponseStateMachine(maximumMessageLength: 1024)
        let headers = HPACKHeaders([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "14"), ("grpc-message", "etcdserver: no leader")])
        #expect(machine.headersReceived(headers, endStream: true) == .deliverAndFinish([], GRPCStatus(code: 14, message: "etcdserver: no leader")))
    }

    @Test("an HTTP error status is turned into a gRPC status")
    func httpStatus() {
        var machine = GRPCResponseStateMachine(maximumMessageLength: 1024)
        let action = machine.headersReceived(HPACKHeaders([(":status", "503")]), endStream: true)
        guard case .deliverAndFinish(_, let status) = action else {
            Issue.record("expected the call to finish, got \(action)")
            return
        }
        #expect(status.code == 14)
    }

    @Test("trailers inside a message, or a stream ending without trailers, are errors")
    func truncated() {
        var machine = GRPCResponseStateMachine(maximumMessageLength: 1024)
        _ = machine.headersReceived(self.okHeaders, endStream: false)
        _ = machine.dataReceived(ByteBuffer(bytes: [0, 0, 0, 0, 9, 1]), endStream: false)
        let action = machine.headersReceived(HPACKHeaders([("grpc-status", "0")]), endStream: true)
        guard case .deliverAndFinish(_, let status) = action else {
            Issue.record("expected the call to finish, got \(action)")
            return
        }
        #expect(status.code == 13)

        var noTrailers = GRPCResponseStateMachine(maximumMessageLength: 1024)
        _ = noTrailers.headersReceived(self.okHeaders, endStream: false)
        let ended = noTrailers.dataReceived(GRPCMessageFraming.frame(ByteBuffer(string: "x"), allocator: ByteBufferAllocator()), endStream: true)
        #expect(ended == .deliverAndFinish([ByteBuffer(string: "x")], GRPCStatus(code: 13, message: "etcd ended the stream without trailers (no grpc-status)")))
    }

    @Test("a stream closed before its status reports that the call had not finished")
    func closedEarly() {
        var machine = GRPCResponseStateMachine(maximumMessageLength: 1024)
        _ = machine.headersReceived(self.okHeaders, endStream: false)
        let first = machine.streamClosed()
        let second = machine.streamClosed()
        #expect(first)
        #expect(!second)
    }
}
