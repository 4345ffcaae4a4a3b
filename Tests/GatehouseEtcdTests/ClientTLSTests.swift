import Foundation
import EtcdProto
import GatehouseEtcd
import GatehouseTLS
import GatehouseTestUtils
import NIOCore
import NIOPosix
import Testing

/// The client's TLS: ALPN h2 is required and checked, the member's certificate is verified.
@Suite("etcd client: TLS and ALPN", .serialized, .localEtcd)
struct ClientTLSTests {
    /// A TLS server on a free loopback port that completes handshakes and then does nothing:
    /// whatever the client sees comes from the handshake alone.
    private static func withTLSServer<T>(
        pki: TestPKI,
        applicationProtocols: [String],
        _ body: (EtcdEndpoint) async throws -> T
    ) async throws -> T {
        var configuration = pki.serverConfiguration
        configuration.applicationProtocols = applicationProtocols
        let context = try TLSContext.server(configuration)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        do {
            let result = try await body(EtcdEndpoint(host: "127.0.0.1", port: server.localAddress!.port!))
            try await server.close()
            return result
        } catch {
            try? await server.close()
            throw error
        }
    }

    private static func range(_ client: EtcdClient) async throws {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("/k".utf8)
        _ = try await client.range(request)
    }

    @Test("a server that negotiates no ALPN is refused with an error that names h2")
    func noALPN() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await Self.withTLSServer(pki: pki, applicationProtocols: []) { endpoint in
            let client = try EtcdClient(configuration: EtcdClientConfiguration(
                endpoints: [endpoint], trustRootsPath: pki.caCertificatePath,
                certificatePath: pki.admin.certificatePath, privateKeyPath: pki.admin.keyPath,
                callTimeout: .seconds(10), connectTimeout: .seconds(5)  // refused at once; generous for a loaded machine
            ))
            let error = try await #require(throws: EtcdError.self) { try await Self.range(client) }
            #expect(error.code == .unavailable)
            #expect(error.message.contains("ALPN h2 required, negotiated: none"), "\(error)")
            #expect(error.message.contains(endpoint.description), "\(error)")
            await client.close()
        }
    }

    @Test("a server that refuses h2 in the handshake is reported as a TLS failure with OpenSSL's reason")
    func alpnRefused() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await Self.withTLSServer(pki: pki, applicationProtocols: ["gatehouse/1"]) { endpoint in
            let client = try EtcdClient(configuration: EtcdClientConfiguration(
                endpoints: [endpoint], trustRootsPath: pki.caCertificatePath,
                certificatePath: pki.admin.certificatePath, privateKeyPath: pki.admin.keyPath,
                callTimeout: .seconds(10), connectTimeout: .seconds(5)  // refused at once; generous for a loaded machine
            ))
            let error = try await #require(throws: EtcdError.self) { try await Self.range(client) }
            #expect(error.code == .unavailable)
            #expect(error.message.contains("no application protocol"), "\(error)")
            await client.close()
        }
    }

    @Test("a member whose certificate our CA did not sign is refused, naming --etcd-ca")
    func wrongCA() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        var configuration = etcd.clientConfiguration(callTimeout: .seconds(2), connectTimeout: .seconds(1))
        configuration.trustRootsPath = etcd.pki.directory + "/other-ca.pem"
        let client = try EtcdClient(configuration: configuration)
        let error = try await #require(throws: EtcdError.self) { try await Self.range(client) }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("certificate verification failed"), "\(error)")
        #expect(error.message.contains("--etcd-ca"), "\(error)")
        await client.close()
    }

    @Test("etcd refuses a client certificate from another CA; the error says to check --etcd-cert")
    func foreignClientCertificate() async throws {
        let etcd = try await LocalEtcd.start()
        defer { etcd.stop() }
        var configuration = etcd.clientConfiguration(callTimeout: .seconds(2), connectTimeout: .seconds(1))
        configuration.certificatePath = etcd.pki.foreignClient.certificatePath
        configuration.privateKeyPath = etcd.pki.foreignClient.keyPath
        let client = try EtcdClient(configuration: configuration)
        let error = try await #require(throws: EtcdError.self) { try await Self.range(client) }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("--etcd-cert"), "\(error)")
        await client.close()
    }
}
