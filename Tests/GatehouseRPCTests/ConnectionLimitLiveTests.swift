import GatehouseTLS
import GatehouseTestUtils
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import GatehouseRPC

/// The connection limits against a real server on port 0, over loopback only:
/// silent sockets and ordinary identities must not keep a privileged one out.
@Suite(.serialized) struct ConnectionLimitLiveTests {
    /// Plain TCP sockets to the server that never send a byte, each reopened
    /// when the server closes it, until `budget` sockets were opened in all.
    final class SilentSockets: Sendable {
        private struct State {
            var open: [ObjectIdentifier: any Channel] = [:]
            var opened = 0
            var stopped = false
        }

        private let state = NIOLockedValueBox(State())
        private let port: Int
        private let budget: Int
        private let group: any EventLoopGroup

        init(port: Int, budget: Int, group: any EventLoopGroup) {
            self.port = port
            self.budget = budget
            self.group = group
        }

        /// Sockets opened so far, reopened ones included.
        var opened: Int { self.state.withLockedValue { $0.opened } }

        func hold(_ count: Int) {
            for _ in 0..<count { self.openOne() }
        }

        private func openOne() {
            let go = self.state.withLockedValue { state in
                guard !state.stopped, state.opened < self.budget else { return false }
                state.opened += 1
                return true
            }
            guard go else { return }
            ClientBootstrap(group: self.group)
                .channelInitializer { _ in self.group.any().makeSucceededVoidFuture() }
                .connect(host: "127.0.0.1", port: self.port)
                .whenComplete { result in
                    guard case .success(let channel) = result else {
                        self.openOne()
                        return
                    }
                    let stopped = self.state.withLockedValue { state in
                        if !state.stopped { state.open[ObjectIdentifier(channel)] = channel }
                        return state.stopped
                    }
                    guard !stopped else {
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in
                        self.state.withLockedValue { _ = $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
                        self.openOne()  // the attacker comes straight back
                    }
                }
        }

        func stop() async {
            let channels = self.state.withLockedValue { state in
                state.stopped = true
                return Array(state.open.values)
            }
            for channel in channels { try? await channel.close() }
        }
    }

    struct Server {
        let pki: TestPKI
        let server: RPCServer
        let port: Int

        /// - Parameter group: the server's own loops, for a test whose flood must not
        ///   starve the servers other suites run at the same time on the shared group.
        static func start(limits: RPCServerLimits, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Server {
            let pki = try TestPKI()
            let server = RPCServer(
                configuration: .init(
                    host: "127.0.0.1",
                    port: 0,
                    tls: try TLSContext.server(pki.serverConfiguration),
                    limits: limits,
                    router: RPCRouter([RPCMethod(path: "/test.Echo/Unary", requestType: "bytes", responseType: "bytes") { payload, _ in payload }]),
                    isPrivileged: { $0.commonName == "admin" }
                ),
                group: group,
                logger: Logger(label: "test.server")
            )
            let address = try await server.start()
            return Server(pki: pki, server: server, port: address.port!)
        }

        func connect(_ credentials: TestPKI.ClientCredentials) async throws -> RPCClientConnection {
            try await RPCClientConnection.connect(
                host: "127.0.0.1",
                port: self.port,
                tls: try TLSContext.client(self.pki.clientConfiguration(for: credentials)),
                serverHostname: "localhost"
            )
        }

        /// Connects, makes one call, and closes.
        func echo(_ credentials: TestPKI.ClientCredentials, _ value: UInt32) async throws -> UInt32? {
            let client = try await self.connect(credentials)
            let response: ByteBuffer
            do {
                response = try await client.unary("/test.Echo/Unary", request: ByteBuffer(integer: value))
            } catch {
                await client.close()
                throw error
            }
            await client.close()
            return response.getInteger(at: response.readerIndex, as: UInt32.self)
        }

        func stop() async {
            await self.server.close()
            self.pki.remove()
        }
    }

    @Test func silentSocketsReopenedAsTheyCloseDoNotKeepAnAdminOut() async throws {
        // The default handshake limit (128), attacked as issue 13 found it: 200 plain TCP sockets
        // that never start TLS, each reopened as soon as the server closes it; at most 6,000
        // sockets in all, on loopback, however fast the server drops them.
        var limits = RPCServerLimits()
        limits.maxConnections = 100  // fewer than the sockets: before handshakes were counted apart, they filled it
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await Server.start(limits: limits, group: serverGroup)
        let handshakeLimit = limits.maxHandshakes
        let attackerGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let flood = SilentSockets(port: server.port, budget: 6_000, group: attackerGroup)
        flood.hold(200)
        try await LiveRPCTests.eventually { flood.opened > 200 && server.server.connectionCounts.handshaking == handshakeLimit }

        for value in 0..<5 as Range<UInt32> {
            // The point is that the admin gets in at all (before the fix its handshake never
            // started and the connect failed); how fast depends on the machine's load, so no
            // duration is asserted.
            #expect(try await server.echo(server.pki.admin, value) == value)
        }
        #expect(server.server.connectionCounts.handshaking <= limits.maxHandshakes)
        #expect(flood.opened > 200, "the server dropped silent sockets, and they came back")

        await flood.stop()
        try await LiveRPCTests.eventually { server.server.connectionCounts == .init(handshaking: 0, authenticated: 0, privileged: 0) }
        try await attackerGroup.shutdownGracefully()
        await server.stop()
        try await serverGroup.shutdownGracefully()
    }

    @Test func ordinaryIdentitiesCannotTakeTheReservedConnections() async throws {
        var limits = RPCServerLimits()
        limits.maxConnections = 3
        limits.reservedConnections = 1
        let server = try await Server.start(limits: limits)
        let components = try (0..<3).map { try server.pki.issueClient(commonName: "component-\($0)", role: "component") }

        let first = try await server.connect(components[0])
        let second = try await server.connect(components[1])
        do {
            _ = try await server.connect(components[2])
            Issue.record("a third ordinary connection took the reserved one")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("connection limit reached"), "\(error.message)")
        }
        // The reserved connection is the admin's.
        let admin = try await server.connect(server.pki.admin)
        let echoed = try await admin.unary("/test.Echo/Unary", request: ByteBuffer(integer: UInt32(7)))
        #expect(echoed.getInteger(at: echoed.readerIndex, as: UInt32.self) == 7)
        #expect(server.server.connectionCounts == .init(handshaking: 0, authenticated: 3, privileged: 1))
        await #expect(throws: RPCError.self) { _ = try await server.connect(server.pki.admin) }

        // A place freed by an ordinary connection is ordinary again.
        await first.close()
        try await LiveRPCTests.eventually { server.server.connectionCounts.authenticated == 2 }
        let third = try await server.connect(components[2])
        #expect(server.server.connectionCounts == .init(handshaking: 0, authenticated: 3, privileged: 1))

        for client in [second, third, admin] { await client.close() }
        await server.stop()
    }
}
