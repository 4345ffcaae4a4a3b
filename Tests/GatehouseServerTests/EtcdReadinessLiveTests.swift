import Foundation
import GatehouseServer
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Testing

/// `/readyz` of a server over a real etcd (``LocalEtcd``): not ready while
/// its store loads, ready while etcd answers, 503 with a reason naming etcd
/// once it is gone, while `/healthz` stays 200 (a restart would not bring etcd back).
@Suite(.serialized, .localEtcd) struct EtcdReadinessLiveTests {
    @Test func readinessFailsWithAReasonWhenEtcdIsGoneAndLivenessHolds() async throws {
        let etcd = try await LocalEtcd.start()
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer {
            etcd.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { configuration in
            configuration.store = .etcd(
                EtcdBackendSettings(
                    endpoints: etcd.endpoints, trustRoots: etcd.caPath,
                    certificateChain: etcd.clientCertificatePath, privateKey: etcd.clientKeyPath,
                    prefix: "/gatehouse-\(UUID().uuidString.prefix(8))/", callTimeout: .seconds(2), serverID: "a"
                )
            )
            configuration.metricsListener = .init(host: "127.0.0.1", port: 0)
        }
        let port = try #require(running.listening.metricsAddress?.port)
        let ready = try await MetricsLiveTests.HTTP.get("/readyz", port: port)
        #expect(ready.status == 200 && ready.body == "ok\n")

        etcd.kill(member: 0)
        let notReady = try await Self.eventually("/readyz fails", port: port) { $0.status == 503 }
        #expect(notReady.body.hasPrefix("etcd does not answer, so this server cannot commit: "), "\(notReady.body)")
        #expect(notReady.body.split(separator: "\n").count == 1, "one line")
        print("/readyz with etcd gone: \(notReady.status) \(notReady.body)", terminator: "")
        #expect(try await MetricsLiveTests.HTTP.get("/healthz", port: port).status == 200)
        try await running.stop()
    }

    @Test func notReadyWhileTheStoreLoadsThenReadyOnceServing() async throws {
        let etcd = try await LocalEtcd.start()
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer {
            etcd.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        // A fixed port: the address is announced with the RPC listener's, which waits for the store.
        let metricsPort = try freeLoopbackPort()
        var configuration = GatehouseServerConfiguration()
        configuration.dataDirectory = directory
        configuration.port = 0
        configuration.store = .etcd(
            EtcdBackendSettings(
                endpoints: etcd.endpoints, trustRoots: etcd.caPath,
                certificateChain: etcd.clientCertificatePath, privateKey: etcd.clientKeyPath,
                prefix: "/gatehouse-\(UUID().uuidString.prefix(8))/", callTimeout: .seconds(60), serverID: "a"
            )
        )
        configuration.metricsListener = .init(host: "127.0.0.1", port: metricsPort)
        // A member that answers nothing: the store's first read waits for it.
        etcd.pause(member: 0)
        let listening = NIOLockedValueBox<GatehouseServer.Listening?>(nil)
        let logger = Logger(label: "test.gatehouse")
        let server = GatehouseServer(configuration: configuration, logger: logger) { value in listening.withLockedValue { $0 = value } }
        let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
        let task = Task { try await group.run() }

        let starting = try await Self.eventually("the probe listener answers", port: metricsPort) { $0.status == 503 }
        #expect(starting.body.hasPrefix("starting: "), "\(starting.body)")
        #expect(try await MetricsLiveTests.HTTP.get("/healthz", port: metricsPort).status == 200, "alive while loading")
        #expect(listening.withLockedValue { $0 } == nil, "not listening for RPC yet")

        etcd.resume(member: 0)
        let ready = try await Self.eventually("/readyz turns ready", port: metricsPort, timeout: .seconds(60)) { $0.status == 200 }
        #expect(ready.body == "ok\n")
        #expect(listening.withLockedValue { $0 }?.metricsAddress?.port == metricsPort)
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Probes `/readyz` until `condition` holds; a listener not up yet counts as not yet.
    static func eventually(
        _ what: String,
        port: Int,
        timeout: Duration = .seconds(30),
        _ condition: (MetricsLiveTests.HTTP.Answer) -> Bool
    ) async throws -> MetricsLiveTests.HTTP.Answer {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while true {
            do {
                let answer = try await MetricsLiveTests.HTTP.get("/readyz", port: port)
                if condition(answer) { return answer }
                last = "\(answer.status) \(answer.body)"
            } catch {
                last = "\(error)"
            }
            guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "timed out waiting until \(what): \(last)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
