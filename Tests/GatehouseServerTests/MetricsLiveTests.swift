import Foundation
import GatehouseClient
import GatehouseSDK
import GatehouseServer
import GatehouseTLS
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The operations listener of a live server on port 0: probes answer, and a
/// toggle, a subscription, a push and a NACK move the metrics a scrape reads.
@Suite(.serialized) struct MetricsLiveTests {
    /// A plain HTTP/1.1 exchange over NIO: one request, `Connection: close`, the whole answer.
    enum HTTP {
        struct Answer {
            var status: Int
            var body: String
        }

        private final class Collector: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            let done: EventLoopPromise<String>
            private let received: NIOLockedValueBox<String>

            init(done: EventLoopPromise<String>) {
                self.done = done
                self.received = NIOLockedValueBox("")
            }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let buffer = self.unwrapInboundIn(data)
                self.received.withLockedValue { $0 += String(buffer: buffer) }
            }

            func channelInactive(context: ChannelHandlerContext) {
                self.done.succeed(self.received.withLockedValue { $0 })
            }

            func errorCaught(context: ChannelHandlerContext, error: any Error) {
                self.done.fail(error)
                context.close(promise: nil)
            }
        }

        static func get(_ path: String, port: Int, method: String = "GET") async throws -> Answer {
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let done = loop.makePromise(of: String.self)
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: loop)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: done)) }
                    }
                    .connect(host: "127.0.0.1", port: port).get()
            } catch {
                // A refused connect (a listener not up yet) never reaches the handler: the promise
                // must still be completed, or NIO traps on the leak.
                done.fail(error)
                throw error
            }
            let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            let text = try await done.futureResult.get()
            guard let split = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ")[1]) else {
                throw WaitTimeout(description: "not an HTTP response: \(text)")
            }
            return Answer(status: status, body: String(text[split.upperBound...]))
        }
    }

    static func scrape(_ port: Int) async throws -> String {
        let answer = try await HTTP.get("/metrics", port: port)
        #expect(answer.status == 200)
        return answer.body
    }

    static func value(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
        ServerMetricsTests.value(text, name, labels) ?? -1
    }

    @Test func probesAnswerAndAToggleASubscriptionAPushAndANackMoveTheMetrics() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { configuration in
            SubscriptionTests.fastHeartbeats(&configuration)
            configuration.metricsListener = .init(host: "127.0.0.1", port: 0)
        }
        let metricsPort = try #require(running.listening.metricsAddress?.port)
        #expect(metricsPort != 0 && metricsPort != running.listening.address.port)

        let health = try await HTTP.get("/healthz", port: metricsPort)
        #expect(health.status == 200 && health.body == "ok\n")
        let ready = try await HTTP.get("/readyz", port: metricsPort)
        #expect(ready.status == 200 && ready.body == "ok\n")
        #expect(try await HTTP.get("/nothing", port: metricsPort).status == 404)
        #expect(try await HTTP.get("/metrics", port: metricsPort, method: "DELETE").status == 405)

        var text = try await Self.scrape(metricsPort)
        #expect(Self.value(text, "gatehouse_revision") == 0)
        #expect(Self.value(text, "gatehouse_commit_duration_seconds_count") == 0)

        let fixture = try await ComponentFixture.start(running, directory: directory)
        let imported = try await fixture.importCatalog()
        let toggled = try await fixture.set("KubeletOnly", true, component: "kubelet")
        text = try await Self.scrape(metricsPort)
        #expect(Self.value(text, "gatehouse_revision") == Double(toggled))
        #expect(toggled > imported)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "KubeletOnly", "component": "kubelet"]) == 1)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "Everywhere", "component": "kubelet"]) == 0)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "SchedulerOnly", "component": "kube-scheduler"]) == 0)
        #expect(Self.value(text, "gatehouse_feature_enabled", ["feature": "KubeletOnly", "component": "kube-scheduler"]) == -1, "it does not apply there")
        #expect(Self.value(text, "gatehouse_commit_duration_seconds_count") == 2)
        #expect(Self.value(text, "gatehouse_commit_group_size_sum") == 2)
        #expect(Self.value(text, "gatehouse_rpc_calls_total", ["method": "/gatehouse.v1.Features/Set", "code": "OK"]) == 1)
        #expect(Self.value(text, "gatehouse_tls_handshakes_completed_total") >= 1)
        #expect(Self.value(text, "gatehouse_connections_accepted_total") >= 1)
        #expect(Self.value(text, "gatehouse_connections_open", ["stage": "authenticated"]) >= 1)
        #expect(Self.value(text, "gatehouse_subscribers") == 0)

        // Refused calls are counted under their code; a path the server does not serve, as `unknown`.
        var refusedCode = ""
        do {
            try await fixture.set("NoSuchFeature", true)
            Issue.record("a Set of an unknown feature was applied")
        } catch let error as RPCError {
            refusedCode = error.code.description
        }
        do {
            let _: Gatehouse_V1_ListComponentsResponse = try await fixture.admin.connection.unary(
                "/gatehouse.v1.Nothing/Here", Gatehouse_V1_ListComponentsRequest())
            Issue.record("a call to an unknown method succeeded")
        } catch let error as RPCError {
            #expect(error.code == .unimplemented)
        }
        text = try await Self.scrape(metricsPort)
        #expect(Self.value(text, "gatehouse_rpc_calls_total", ["method": "/gatehouse.v1.Features/Set", "code": refusedCode]) == 1)
        #expect(Self.value(text, "gatehouse_rpc_calls_total", ["method": "/gatehouse.v1.Features/Set", "code": "OK"]) == 1)
        #expect(Self.value(text, "gatehouse_rpc_calls_total", ["method": "unknown", "code": "UNIMPLEMENTED"]) == 1)
        #expect(!text.contains("/gatehouse.v1.Nothing/Here"), "a made-up path adds no series")

        // A component subscribes: one subscriber; a change pushed to it is a fan-out.
        let refuse = SDKLiveTests.Switch()
        let component = try SDKLiveTests.component(fixture, port: running.listening.address.port!, refuseEverywhereOff: refuse)
        let runner = Task { try await component.run() }
        guard case .live = await component.waitForBoot() else {
            Issue.record("the component did not boot live")
            return
        }
        try await SubscriptionTests.eventually("the scrape counts the subscriber", timeout: .seconds(20)) {
            Self.value(try await Self.scrape(metricsPort), "gatehouse_subscribers") == 1
        }
        try await fixture.set("Everywhere", true)
        try await SubscriptionTests.eventually("the push is measured", timeout: .seconds(20)) {
            let text = try await Self.scrape(metricsPort)
            return Self.value(text, "gatehouse_fanout_duration_seconds_count") >= 1
                && Self.value(text, "gatehouse_feature_enabled", ["feature": "Everywhere", "component": "kubelet"]) == 1
        }

        // The component refuses the next change: a NACK, counted under its component.
        refuse.turnOn()
        try await fixture.set("Everywhere", false)
        try await SubscriptionTests.eventually("the NACK is counted", timeout: .seconds(20)) {
            Self.value(try await Self.scrape(metricsPort), "gatehouse_nacks_total", ["component": "kubelet"]) == 1
        }

        // A client without a certificate the server trusts fails its handshake: counted by reason.
        let stranger = try CertificateAuthority.create(commonName: "stranger-ca")
        let strangerCert = try stranger.issue(.client, subject: CertificateSubject(commonName: "stranger"))
        try strangerCert.write(certificateTo: "\(directory)/stranger.crt", keyTo: "\(directory)/stranger.key")
        var strangerConfig = fixture.adminConfig
        strangerConfig.certificate = "\(directory)/stranger.crt"
        strangerConfig.key = "\(directory)/stranger.key"
        _ = try? await GatehouseClient.connect(config: strangerConfig)
        try await SubscriptionTests.eventually("the failed handshake is counted", timeout: .seconds(20)) {
            Self.value(try await Self.scrape(metricsPort), "gatehouse_tls_handshakes_failed_total", ["reason": "certificate"]) >= 1
        }

        runner.cancel()
        _ = await runner.result
        await fixture.admin.close()
        try await running.stop()
    }

    /// Sockets mid-handshake past --max-handshakes: each one dropped to make room counts once, as
    /// `connections_refused_total{reason="handshake_dropped"}`, not again as a failed handshake
    /// (the server's close goes through the TLS handler, which then reports no failure).
    @Test func aDroppedHandshakeCountsOnceAsDropped() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { configuration in
            configuration.limits.maxHandshakes = 2
            // The two that stay pending must not time out meanwhile on a slow machine: that is a
            // failed handshake, rightly counted (as `timeout`), but not what this test is about.
            configuration.limits.handshakeTimeout = .seconds(600)
            configuration.metricsListener = .init(host: "127.0.0.1", port: 0)
        }
        let metricsPort = try #require(running.listening.metricsAddress?.port)
        let port = running.listening.address.port!
        var sockets: [any Channel] = []
        for _ in 0..<6 {
            let socket = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            // The start of a TLS record: the server's handshake is under way when it drops the socket.
            try await socket.writeAndFlush(ByteBuffer(bytes: [0x16, 0x03, 0x01])).get()
            sockets.append(socket)
        }
        // 6 sockets mid-handshake, 2 handshakes at a time: 4 are dropped (which ones depends on
        // what the server had read of each). Once they have seen the server close them, the
        // server has run everything that follows a close.
        let closed = NIOLockedValueBox(0)
        for socket in sockets { socket.closeFuture.whenComplete { _ in closed.withLockedValue { $0 += 1 } } }
        try await SubscriptionTests.eventually("four sockets dropped", timeout: .seconds(30)) { closed.withLockedValue { $0 } == 4 }
        let text = try await Self.scrape(metricsPort)
        #expect(Self.value(text, "gatehouse_connections_refused_total", ["reason": "handshake_dropped"]) == 4)
        #expect(Self.value(text, "gatehouse_connections_accepted_total") == 6)
        for reason in ["certificate", "protocol", "timeout", "peer_closed", "other"] {
            #expect(Self.value(text, "gatehouse_tls_handshakes_failed_total", ["reason": reason]) <= 0, "\(reason)")
        }
        for socket in sockets { try? await socket.close() }
        try await running.stop()
    }

    @Test func noMetricsListenerUnlessConfigured() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory)
        #expect(running.listening.metricsAddress == nil)
        try await running.stop()
    }
}
