@testable import GatehouseEtcd
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

/// The per-call handler on an EmbeddedChannel: what a lost connection or a
/// passed deadline means for whether the request may have been applied.
@Suite("etcd client: the call handler")
struct ClientStreamHandlerTests {
    private final class Outcome: @unchecked Sendable {
        var messages: [ByteBuffer] = []
        var error: (any Error)?
        var finished = false
    }

    /// A handler on an active embedded channel and the outcome of its response stream.
    private func makeCall(deadline: NIODeadline? = nil) async throws -> (EmbeddedChannel, Task<Outcome, Never>) {
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(GRPCStreamHandler(
            endpoint: "https://127.0.0.1:2379", path: "/etcdserverpb.KV/Put", deadline: deadline,
            maximumMessageLength: 1024, health: EtcdConnectionHealth(), continuation: continuation
        ))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        let task = Task {
            let outcome = Outcome()
            do {
                for try await message in stream { outcome.messages.append(message) }
                outcome.finished = true
            } catch {
                outcome.error = error
            }
            return outcome
        }
        return (channel, task)
    }

    private func sendRequest(_ channel: EmbeddedChannel) throws {
        let framed = GRPCMessageFraming.frame(ByteBuffer(string: "put"), allocator: channel.allocator)
        try channel.writeOutbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed), endStream: true)))
    }

    @Test("a connection lost after the request was written may have applied it")
    func lostAfterSend() async throws {
        let (channel, task) = try await self.makeCall()
        try self.sendRequest(channel)
        _ = try await channel.close()
        let error = try #require(await task.value.error as? EtcdError)
        #expect(error.code == .unavailable)
        #expect(error.mayHaveApplied)
        #expect(error.endpoint == "https://127.0.0.1:2379")
    }

    @Test("a connection lost before anything was written cannot have applied it")
    func lostBeforeSend() async throws {
        let (channel, task) = try await self.makeCall()
        _ = try await channel.close()
        let error = try #require(await task.value.error as? EtcdError)
        #expect(error.code == .unavailable)
        #expect(!error.mayHaveApplied)
    }

    @Test("the local deadline ends a sent call as deadlineExceeded, may have applied, and resets the stream")
    func deadline() async throws {
        let (channel, task) = try await self.makeCall(deadline: .uptimeNanoseconds(0) + .seconds(5))
        try self.sendRequest(channel)
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .seconds(1))
        let error = try #require(await task.value.error as? EtcdError)
        #expect(error.code == .deadlineExceeded)
        #expect(error.mayHaveApplied)
        #expect(!channel.isActive)
    }

    @Test("a response and OK trailers deliver the message and finish the call")
    func response() async throws {
        let (channel, task) = try await self.makeCall()
        try self.sendRequest(channel)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(":status", "200"), ("content-type", "application/grpc")]))))
        let framed = GRPCMessageFraming.frame(ByteBuffer(string: "answer"), allocator: channel.allocator)
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed))))
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([("grpc-status", "0")]), endStream: true)))
        let outcome = await task.value
        #expect(outcome.finished)
        #expect(outcome.messages == [ByteBuffer(string: "answer")])
    }

    @Test("a minority member's 'no leader' is UNAVAILABLE and known not applied")
    func noLeader() async throws {
        let (channel, task) = try await self.makeCall()
        try self.sendRequest(channel)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(
            headers: HPACKHeaders([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "14"), ("grpc-message", "etcdserver: no leader")]),
            endStream: true
        )))
        let error = try #require(await task.value.error as? EtcdError)
        #expect(error.code == .unavailable)
        #expect(error.message == "etcdserver: no leader")
        #expect(!error.mayHaveApplied)
    }
}
