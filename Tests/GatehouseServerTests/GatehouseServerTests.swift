import Foundation
import GatehouseClient
import GatehouseServer
import GatehouseTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

/// The real server, as `gatehouse serve` runs it, on port 0 with its
/// development PKI, driven through the SDK.
@Suite(.serialized) struct GatehouseServerTests {
    /// A server running in a ServiceGroup, as the executable runs it.
    struct Running {
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let listening: GatehouseServer.Listening
        let server: GatehouseServer

        static func start(
            dataDirectory: String,
            port: Int = 0,
            // Generous: suites run in parallel on two shared cores, and each start issues a PKI.
            startTimeout: Duration = .seconds(30),
            group: (any EventLoopGroup)? = nil,
            configure: (inout GatehouseServerConfiguration) -> Void = { _ in }
        ) async throws -> Running {
            var configuration = GatehouseServerConfiguration()
            configuration.dataDirectory = dataDirectory
            configuration.port = port
            configure(&configuration)
            let listening = NIOLockedValueBox<GatehouseServer.Listening?>(nil)
            let logger = Logger(label: "test.gatehouse")
            let server = GatehouseServer(configuration: configuration, group: group ?? MultiThreadedEventLoopGroup.singleton, logger: logger) { value in
                listening.withLockedValue { $0 = value }
            }
            let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
            let task = Task { try await group.run() }
            let deadline = ContinuousClock.now + startTimeout
            while listening.withLockedValue({ $0 }) == nil {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(10))
            }
            return Running(group: group, task: task, listening: listening.withLockedValue { $0! }, server: server)
        }

        func stop() async throws {
            await self.group.triggerGracefulShutdown()
            try await self.task.value
        }
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func servesInfoAndHealthWithItsDevelopmentCertificates() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await Running.start(dataDirectory: directory)

        for file in ["ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/pki/\(file)"), "\(file) was created")
        }
        let keyMode = try FileManager.default.attributesOfItem(atPath: "\(directory)/pki/admin.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        let adminConfig = try #require(running.listening.adminConfig)
        let config = try ClientConfigLoader.load(path: adminConfig)
        #expect(config.server == "127.0.0.1:\(running.listening.address.port!)", "admin.conf names the port actually bound")

        let client = try await GatehouseClient.connect(config: config)
        let info = try await client.info()
        #expect(info.serverVersion == GatehouseVersion.current)
        #expect(info.protocolVersions == [1])
        #expect(info.caller.commonName == "admin")
        #expect(info.caller.organizations == ["admin"])
        #expect(info.limits.maxFrameSize == 1_048_576)
        #expect(Set(info.methods.map(\.path)).isSuperset(of: ["/gatehouse.v1.Server/Info", "/gatehouse.v1.Health/Check", "/gatehouse.v1.Health/Watch", "/gatehouse.v1.Features/Set"]))
        #expect(try await client.health() == .serving)
        await client.close()
        try await running.stop()
    }

    @Test func shutdownEndsStreamsWithUnavailableAndReturns() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await Running.start(dataDirectory: directory)
        let client = try await GatehouseClient.connect(config: try ClientConfigLoader.load(path: running.listening.adminConfig!))
        let watch = try await client.watchHealth()
        var iterator = watch.makeAsyncIterator()
        #expect(try await iterator.next()?.status == .serving)

        let stopped = Task { try await running.stop() }
        var statuses: [Gatehouse_V1_HealthCheckResponse.ServingStatus] = []
        do {
            while let response = try await iterator.next() { statuses.append(response.status) }
            Issue.record("the watch ended OK instead of UNAVAILABLE")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
        }
        #expect(statuses.allSatisfy { $0 == .notServing })
        try await stopped.value
        try await client.connection.closeFuture.get()
    }

    @Test func aRestartReusesTheDevelopmentCA() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Running.start(dataDirectory: directory)
        try await first.stop()
        let ca = try String(contentsOfFile: "\(directory)/pki/ca.crt", encoding: .utf8)
        let adminKey = try String(contentsOfFile: "\(directory)/pki/admin.key", encoding: .utf8)

        let second = try await Running.start(dataDirectory: directory)
        #expect(try String(contentsOfFile: "\(directory)/pki/ca.crt", encoding: .utf8) == ca)
        #expect(try String(contentsOfFile: "\(directory)/pki/admin.key", encoding: .utf8) == adminKey)
        let client = try await GatehouseClient.connect(config: try ClientConfigLoader.load(path: second.listening.adminConfig!))
        #expect(try await client.health() == .serving)
        await client.close()
        try await second.stop()
    }

    @Test func anIdentityThePolicyDoesNotNameIsRefused() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await Running.start(dataDirectory: directory)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/policy.yaml"), "the development policy was written")
        let pki = DevelopmentPKI(dataDirectory: directory)
        let ca = try CertificateAuthority(certificatePath: pki.caCertificate, privateKeyPath: pki.caKey)
        let stranger = try ca.issue(.client, subject: CertificateSubject(commonName: "stranger", organizations: ["nobody"]))
        try stranger.write(certificateTo: "\(directory)/stranger.crt", keyTo: "\(directory)/stranger.key")
        var config = try ClientConfigLoader.load(path: running.listening.adminConfig!)
        config.certificate = "\(directory)/stranger.crt"
        config.key = "\(directory)/stranger.key"
        let client = try await GatehouseClient.connect(config: config)
        do {
            _ = try await client.info()
            Issue.record("a caller without a role was served")
        } catch let error as RPCError {
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("stranger"))
        }
        await client.close()
        try await running.stop()
    }

    @Test func aMissingConfigSaysWhereItLooked() throws {
        #expect(throws: GatehouseClientError.self) { try ClientConfigLoader.load(path: "/nonexistent/admin.conf") }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "server: 127.0.0.1:1\nca: ca.crt\ncertificate: admin.crt\nkey: admin.key\n".write(toFile: "\(directory)/c.conf", atomically: true, encoding: .utf8)
        let config = try ClientConfigLoader.load(path: "\(directory)/c.conf")
        #expect(config.ca == "\(directory)/ca.crt", "relative paths are resolved against the config's directory")
        try "server: [\n".write(toFile: "\(directory)/bad.conf", atomically: true, encoding: .utf8)
        #expect(throws: GatehouseClientError.self) { try ClientConfigLoader.load(path: "\(directory)/bad.conf") }
    }

    @Test(arguments: [
        ("127.0.0.1:7443", "127.0.0.1", 7443),
        ("[::1]:80", "::1", 80),
        (":9000", "127.0.0.1", 9000),
        ("gatehouse.example:0", "gatehouse.example", 0),
    ])
    func parsesAddresses(_ text: String, _ host: String, _ port: Int) throws {
        let parsed = try ClientConfig.parseAddress(text)
        #expect(parsed.host == host && parsed.port == port)
    }

    @Test(arguments: ["localhost", "127.0.0.1:99999", "host:http", "[::1]"])
    func refusesBadAddresses(_ text: String) {
        #expect(throws: RPCError.self) { try ClientConfig.parseAddress(text) }
    }
}
