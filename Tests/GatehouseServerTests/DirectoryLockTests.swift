import Foundation
import GatehouseEtcd
import Logging
import Testing

@testable import GatehouseServer

/// Over etcd there is no database to lock, so the data directory itself is:
/// two servers given one --data-dir would rewrite each other's PKI and policy.
@Suite struct DirectoryLockTests {
    @Test func aSecondLockOnTheDirectoryIsRefusedUntilTheFirstGoes() throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var first: DirectoryLock? = try DirectoryLock(directory)
        #expect(throws: DataDirectoryError.self) { try DirectoryLock(directory) }
        do {
            _ = try DirectoryLock(directory)
        } catch {
            #expect("\(error)".contains("data directory \(directory) is in use: another gatehouse holds the lock on \(directory)"), "\(error)")
        }
        withExtendedLifetime(first) {}
        first = nil
        _ = try DirectoryLock(directory)
    }

    @Test func aMissingDirectoryIsNamed() {
        let missing = "/nonexistent-\(UUID().uuidString)"
        #expect(throws: DataDirectoryError.self) { try DirectoryLock(missing) }
    }

    /// The lock comes before anything else: no etcd is contacted (the endpoint is a closed
    /// port) and nothing is written into the directory.
    @Test func aServerOverEtcdStopsOnADirectoryInUseBeforeWritingAnything() async throws {
        let directory = try GatehouseServerTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let held = try DirectoryLock(directory)
        var configuration = GatehouseServerConfiguration()
        configuration.dataDirectory = directory
        configuration.port = 0
        configuration.store = .etcd(EtcdBackendSettings(
            endpoints: [EtcdEndpoint(host: "127.0.0.1", port: 1)], trustRoots: "\(directory)/none.crt",
            certificateChain: "\(directory)/none.crt", privateKey: "\(directory)/none.key",
            prefix: "/gatehouse/", callTimeout: .seconds(1), serverID: "a"
        ))
        let server = GatehouseServer(configuration: configuration, logger: Logger(label: "test")) { _ in }
        await #expect(throws: DataDirectoryError.self) { try await server.run() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "nothing written")
        withExtendedLifetime(held) {}
    }
}
