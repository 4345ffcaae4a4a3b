import Foundation
import GatehouseClient
import GatehouseServer
import NIOCore
import NIOPosix
import Testing

/// The real server keeps connections for its administrators: silent sockets
/// and connections of other roles fill only their own limits.
@Suite(.serialized) struct ConnectionReserveTests {
    @Test func anAdminCallsInfoPastSilentSocketsAndAFullUnreservedShare() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try await GatehouseServerTests.Running.start(dataDirectory: directory) { configuration in
            configuration.limits.maxHandshakes = 8
            configuration.limits.maxConnections = 4
            configuration.limits.reservedConnections = 2
        }
        let port = running.listening.address.port!
        let fixture = try await ComponentFixture.start(running, directory: directory)  // the first admin connection

        // Plain TCP sockets that never start TLS: five times the handshake limit (loopback, 40 in all).
        let attackerGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var silent: [any Channel] = []
        for _ in 0..<40 {
            silent.append(try await ClientBootstrap(group: attackerGroup).connect(host: "127.0.0.1", port: port).get())
        }

        // Viewers take the unreserved share; the next one is told why it is refused.
        var viewers: [GatehouseClient] = []
        for index in 0..<2 {
            let viewer = try await GatehouseClient.connect(config: try fixture.config(for: "viewer-\(index)", role: "viewer"))
            _ = try await viewer.info()
            viewers.append(viewer)
        }
        do {
            let refused = try await GatehouseClient.connect(config: try fixture.config(for: "viewer-2", role: "viewer"))
            await refused.close()
            Issue.record("a third viewer took a reserved connection")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("connection limit reached"), "\(error.message)")
        }

        // A second administrator still gets in, and is served.
        let admin = try await GatehouseClient.connect(config: fixture.adminConfig)
        let info = try await admin.info()
        #expect(info.caller.commonName == "admin")
        #expect(try await fixture.admin.info().caller.commonName == "admin")

        for client in viewers + [admin, fixture.admin] { await client.close() }
        for channel in silent { try? await channel.close() }
        try await attackerGroup.shutdownGracefully()
        try await running.stop()
    }
}
