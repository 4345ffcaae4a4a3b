import Foundation
import GatehouseServer
import Testing

/// `/readyz` of a server over a real etcd (``LocalEtcd``): ready while etcd
/// answers, 503 with a reason naming etcd once it is gone, while `/healthz`
/// stays 200 (a restart would not bring etcd back).
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

    static func eventually(
        _ what: String,
        port: Int,
        _ condition: (MetricsLiveTests.HTTP.Answer) -> Bool
    ) async throws -> MetricsLiveTests.HTTP.Answer {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let answer = try await MetricsLiveTests.HTTP.get("/readyz", port: port)
            if condition(answer) { return answer }
            guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "timed out waiting until \(what): \(answer.body)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
