import NIOCore
import NIOHTTP1

/// Answers the operations listener's HTTP/1.1 requests: `GET /metrics`,
/// `GET /healthz`, `GET /readyz` (and `HEAD` of each).
///
/// Other paths get 404, other methods 405 with `Allow: GET, HEAD`. A request
/// with a body larger than ``maxBodyBytes`` gets 413 and the connection is
/// closed; headers are bounded by the decoder (``ProbeServer`` configures it),
/// and bytes that are not HTTP get NIO's 400 and a close. The routes run in a
/// task (they may wait on etcd or resolve the gate state); the answer is
/// written back on the connection's event loop. NIO's pipelining handler in
/// front keeps answers in request order.
final class ProbeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Probes send no body; a little is tolerated, more is refused.
    static let maxBodyBytes = 4096
    /// The content type of Prometheus' text exposition format.
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    private enum State {
        case idle
        case receiving(HTTPRequestHead, bodyBytes: Int)
        /// A request was refused and the connection is closing: nothing more it sends is read.
        case closing
    }

    private let routes: ProbeRoutes
    private var state = State.idle
    /// Set once the connection closed: an answer that arrives later is dropped.
    private var removed = false

    init(routes: ProbeRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (self.unwrapInboundIn(data), self.state) {
        case (_, .closing):
            return
        case (.head(let head), _):
            self.state = .receiving(head, bodyBytes: 0)
        case (.body(let body), .receiving(let head, let received)):
            let total = received + body.readableBytes
            guard total <= Self.maxBodyBytes else {
                self.state = .closing
                self.respond(
                    context: context,
                    head: head,
                    status: .payloadTooLarge,
                    body: "a probe request carries at most \(Self.maxBodyBytes) bytes of body\n",
                    close: true
                )
                return
            }
            self.state = .receiving(head, bodyBytes: total)
        case (.end, .receiving(let head, _)):
            self.state = .idle
            self.route(head, context: context)
        case (.body, .idle), (.end, .idle):
            // The decoder never delivers these without a head first.
            return
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.removed = true
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Garbage, or headers past the decoder's limits: HTTPServerProtocolErrorHandler answered 400.
        self.state = .closing
        context.close(promise: nil)
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        let answer: (@Sendable () async -> (HTTPResponseStatus, String, [UInt8]))?
        let routes = self.routes
        switch path {
        case "/metrics":
            answer = { (.ok, Self.metricsContentType, await routes.metrics()) }
        case "/healthz":
            answer = { Self.verdict(await routes.health()) }
        case "/readyz":
            answer = { Self.verdict(await routes.readiness()) }
        default:
            answer = nil
        }
        guard let answer else {
            self.respond(context: context, head: head, status: .notFound, body: "no such path: \(path) (try /metrics, /healthz or /readyz)\n", close: false)
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            self.respond(
                context: context,
                head: head,
                status: .methodNotAllowed,
                body: "\(path) answers GET and HEAD only\n",
                close: false,
                extraHeaders: [("Allow", "GET, HEAD")]
            )
            return
        }
        let promise = context.eventLoop.makePromise(of: (HTTPResponseStatus, String, [UInt8]).self)
        promise.completeWithTask { await answer() }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { status, contentType, body in
            let (handler, context) = bound.value
            guard !handler.removed else { return }
            handler.respond(context: context, head: head, status: status, contentType: contentType, body: body, close: false)
        }
    }

    private static func verdict(_ verdict: ProbeVerdict) -> (HTTPResponseStatus, String, [UInt8]) {
        switch verdict {
        case .ok:
            return (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
        case .failing(let reason):
            return (.serviceUnavailable, "text/plain; charset=utf-8", Array((reason + "\n").utf8))
        }
    }

    private func respond(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        body: String,
        close: Bool,
        extraHeaders: [(String, String)] = []
    ) {
        self.respond(
            context: context,
            head: head,
            status: status,
            contentType: "text/plain; charset=utf-8",
            body: Array(body.utf8),
            close: close,
            extraHeaders: extraHeaders
        )
    }

    private func respond(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        contentType: String,
        body: [UInt8],
        close: Bool,
        extraHeaders: [(String, String)] = []
    ) {
        let close = close || !head.isKeepAlive
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)")])
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD, !body.isEmpty {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if close {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
