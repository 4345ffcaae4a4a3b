import GatehouseTLS
import GatehouseTestUtils
import Testing

/// A bad configuration fails when the context is built, naming the file at fault.
@Suite("TLS context configuration")
struct TLSContextConfigurationTests {
    @Test("a missing file is a configuration error that names its path")
    func missingFile() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        var configuration = pki.serverConfiguration
        configuration.trustRootsPath = pki.directory + "/does-not-exist.pem"
        let error = try #require(throws: TLSError.self) { try TLSContext.server(configuration) }
        guard case .configuration(let message) = error.kind else {
            Issue.record("expected a configuration error, got \(error)")
            return
        }
        #expect(message.contains(configuration.trustRootsPath))
        #expect(message.contains("No such file or directory"))
    }

    @Test("a key that does not match the certificate is refused, naming both files")
    func mismatchedKey() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        var configuration = pki.serverConfiguration
        configuration.privateKeyPath = pki.admin.keyPath
        let error = try #require(throws: TLSError.self) { try TLSContext.server(configuration) }
        #expect(error.description.contains("does not match"))
        #expect(error.description.contains(pki.admin.keyPath))
        #expect(error.description.contains(pki.serverCertificatePath))
    }

    @Test("a file that is not PEM is refused")
    func notPEM() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        var configuration = pki.clientConfiguration(for: pki.admin)
        configuration.certificateChainPath = pki.directory  // a directory, not a PEM file
        #expect(throws: TLSError.self) { try TLSContext.client(configuration) }
    }

    @Test("an empty or oversized ALPN id is refused")
    func invalidALPN() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        var configuration = pki.serverConfiguration
        configuration.applicationProtocols = [""]
        #expect(throws: TLSError.self) { try TLSContext.server(configuration) }
        configuration.applicationProtocols = [String(repeating: "x", count: 256)]
        #expect(throws: TLSError.self) { try TLSContext.server(configuration) }
    }

    @Test("a TLS 1.3-only pair still talks, and the defaults are the protocol's")
    func defaults() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let configuration = pki.serverConfiguration
        #expect(configuration.applicationProtocols == ["gatehouse/1"])
        #expect(configuration.minimumVersion == .v1_2)
        #expect(configuration.handshakeTimeout == .seconds(10))
        #expect(configuration.crlPath == nil)
        let context = try TLSContext.server(configuration)
        #expect(context.role == .server)
        #expect(context.applicationProtocols == ["gatehouse/1"])
    }
}
