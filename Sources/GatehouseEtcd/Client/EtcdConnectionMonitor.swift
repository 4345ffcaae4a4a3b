import NIOCore
import NIOHTTP2

/// Watches a set-up connection at the HTTP/2 level: notes etcd's GOAWAY (it
/// is shutting down or draining us) so no new call is opened here, and
/// answers "is the member still there?" with a PING.
///
/// A member that hangs (SIGSTOPped, wedged, its host partitioned away) keeps
/// the TCP connection open and answers nothing; calls on it only time out.
/// After a call's deadline passes the client probes the connection: no PING
/// acknowledgement within the probe's timeout means the member is gone and
/// the client moves to the next endpoint. Probes are sent only on such
/// suspicion and at most one at a time, never periodically: etcd's gRPC
/// server counts pings on a connection without streams as abuse and closes it.
final class EtcdConnectionMonitor: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private struct Probe {
        let data: HTTP2PingData
        let promise: EventLoopPromise<Bool>
        let timer: Scheduled<Void>
    }

    private let health: EtcdConnectionHealth
    private var context: ChannelHandlerContext?
    private var probe: Probe?
    private var probes: UInt64 = 0
    /// When a probe was last answered: a connection that answered moments ago is not probed again.
    private var lastAnswered: NIODeadline?

    /// How long an answered probe vouches for the connection.
    static let answerFreshness = TimeAmount.seconds(5)

    init(health: EtcdConnectionHealth) {
        self.health = health
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.endProbe(alive: false)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data).payload {
        case .goAway:
            self.health.markDraining()
        case .ping(let data, ack: true):
            if let probe = self.probe, probe.data == data {
                self.lastAnswered = .now()
                self.endProbe(alive: true)
            }
        case .ping(_, ack: false), .data, .headers, .priority, .rstStream, .settings, .pushPromise, .windowUpdate, .alternativeService, .origin:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.endProbe(alive: false)
        context.fireChannelInactive()
    }

    /// Sends a PING unless one is outstanding or one was answered recently;
    /// the future says whether an acknowledgement came within `timeout`
    /// (nil when the handler has left the pipeline: the connection is gone).
    func probe(timeout: TimeAmount) -> EventLoopFuture<Bool>? {
        guard let context = self.context else { return nil }
        if let probe = self.probe {
            return probe.promise.futureResult
        }
        if let lastAnswered = self.lastAnswered, NIODeadline.now() - lastAnswered < Self.answerFreshness {
            return context.eventLoop.makeSucceededFuture(true)
        }
        self.probes += 1
        let data = HTTP2PingData(withInteger: self.probes)
        let promise = context.eventLoop.makePromise(of: Bool.self)
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            self.endProbe(alive: false)
        }
        self.probe = Probe(data: data, promise: promise, timer: timer)
        context.writeAndFlush(self.wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(data, ack: false))), promise: nil)
        return promise.futureResult
    }

    private func endProbe(alive: Bool) {
        guard let probe = self.probe else { return }
        self.probe = nil
        probe.timer.cancel()
        probe.promise.succeed(alive)
    }
}

@available(*, unavailable)
extension EtcdConnectionMonitor: Sendable {}
