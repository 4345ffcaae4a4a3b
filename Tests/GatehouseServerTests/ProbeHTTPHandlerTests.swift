import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import GatehouseServer

/// The operations listener's HTTP handling on an in-memory channel, through
/// the same pipeline the listener builds (`ProbeServer.configure`): paths,
/// methods, oversized and malformed requests.
@Suite struct ProbeHTTPHandlerTests {
    /// One HTTP response as read off the wire.
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Routes whose answers the test controls; counts how often the metrics route ran.
    final class Routes: Sendable {
        let metricsCalls = Mutex(0)
        let ready = Mutex(ProbeVerdict.ok)

        var probeRoutes: ProbeRoutes {
            ProbeRoutes(
                metrics: {
                    let call = self.metricsCalls.withLock { $0 += 1; return $0 }
                    return Array("# TYPE test_scrapes counter\ntest_scrapes \(call)\n".utf8)
                },
                health: { .ok },
                readiness: { self.ready.withLock { $0 } }
            )
        }
    }

    static func channel(_ routes: Routes) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.eventLoop.submit {
            try ProbeServer.configure(channel.pipeline.syncOperations, routes: routes.probeRoutes)
        }.get()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).get()
        return channel
    }

    /// Reads outbound bytes until one whole response (head and Content-Length bytes of body) is there.
    static func response(from channel: NIOAsyncTestingChannel) async throws -> Response {
        var received = ""
        while true {
            let buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            received += String(buffer: buffer)
            guard let split = received.range(of: "\r\n\r\n") else { continue }
            let lines = received[..<split.lowerBound].components(separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let body = String(received[split.upperBound...])
            let length = Int(headers["content-length"] ?? "0") ?? 0
            guard body.utf8.count >= length else { continue }
            let status = Int(lines[0].split(separator: " ")[1])!
            return Response(status: status, headers: headers, body: body)
        }
    }

    static func request(_ text: String, on channel: NIOAsyncTestingChannel) async throws -> Response {
        try await channel.writeInbound(ByteBuffer(string: text))
        return try await Self.response(from: channel)
    }

    @Test func metricsAreServedInPrometheusTextFormatOnEveryScrape() async throws {
        let routes = Routes()
        let channel = try await Self.channel(routes)
        let first = try await Self.request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(first.status == 200)
        #expect(first.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(first.body == "# TYPE test_scrapes counter\ntest_scrapes 1\n")
        // Keep-alive: a second scrape on the same connection runs the route again.
        let second = try await Self.request("GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(second.body.hasSuffix("test_scrapes 2\n"))
        #expect(channel.isActive)
        _ = try? await channel.finish()
    }

    @Test func readinessSaysWhyItIsNotReady() async throws {
        let routes = Routes()
        let channel = try await Self.channel(routes)
        let ready = try await Self.request("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(ready.status == 200)
        #expect(ready.body == "ok\n")
        routes.ready.withLock { $0 = .failing("etcd does not answer") }
        let notReady = try await Self.request("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(notReady.status == 503)
        #expect(notReady.body == "etcd does not answer\n")
        let health = try await Self.request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(health.status == 200)
        _ = try? await channel.finish()
    }

    @Test func headAnswersWithHeadersOnly() async throws {
        let channel = try await Self.channel(Routes())
        try await channel.writeInbound(ByteBuffer(string: "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        var received = ""
        while !received.hasSuffix("\r\n\r\n") {
            received += String(buffer: try await channel.waitForOutboundWrite(as: ByteBuffer.self))
        }
        #expect(received.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(received.contains("Content-Length: 3\r\n"))
        // The next response starts right after the head: no body was written for HEAD.
        let next = try await Self.request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(next.status == 200 && next.body == "ok\n")
        _ = try? await channel.finish()
    }

    @Test func unknownPathsAre404AndOtherMethods405() async throws {
        let routes = Routes()
        let channel = try await Self.channel(routes)
        let missing = try await Self.request("GET /metricz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(missing.status == 404)
        #expect(missing.body.contains("/metrics, /healthz or /readyz"))
        let post = try await Self.request("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", on: channel)
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")
        let delete = try await Self.request("DELETE /readyz HTTP/1.1\r\nHost: x\r\n\r\n", on: channel)
        #expect(delete.status == 405)
        #expect(routes.metricsCalls.withLock { $0 } == 0, "a refused method runs no route")
        #expect(channel.isActive, "404 and 405 keep the connection")
        _ = try? await channel.finish()
    }

    @Test func anOversizedBodyIs413AndClosesTheConnection() async throws {
        let routes = Routes()
        let channel = try await Self.channel(routes)
        let body = String(repeating: "x", count: ProbeHTTPHandler.maxBodyBytes + 1)
        let response = try await Self.request(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
            on: channel
        )
        #expect(response.status == 413)
        #expect(response.headers["connection"] == "close")
        try await channel.closeFuture.get()
        #expect(routes.metricsCalls.withLock { $0 } == 0)
    }

    @Test func oversizedHeadersAreRefusedWith400AndClosed() async throws {
        let channel = try await Self.channel(Routes())
        let header = "X-Filler: " + String(repeating: "y", count: ProbeServer.maxHeaderBytes + 1) + "\r\n"
        try? await channel.writeInbound(ByteBuffer(string: "GET /metrics HTTP/1.1\r\nHost: x\r\n\(header)\r\n"))
        let response = try await Self.response(from: channel)
        #expect(response.status == 400)
        try await channel.closeFuture.get()
    }

    @Test func garbageIsRefusedWith400AndClosed() async throws {
        let channel = try await Self.channel(Routes())
        try? await channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]))
        let response = try await Self.response(from: channel)
        #expect(response.status == 400)
        try await channel.closeFuture.get()
    }
}
