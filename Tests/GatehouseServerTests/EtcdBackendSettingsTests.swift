import Foundation
import GatehouseEtcd
import Testing

@testable import GatehouseServer

/// `gatehouse serve --store etcd`'s flags, checked before anything starts:
/// each refusal names the flag and what to write instead.
@Suite struct EtcdBackendSettingsTests {
    /// Readable CA, certificate and key files (their content is not looked at here).
    struct Files {
        let directory: String
        var ca: String { "\(self.directory)/ca.crt" }
        var cert: String { "\(self.directory)/gatehouse.crt" }
        var key: String { "\(self.directory)/gatehouse.key" }

        init() throws {
            self.directory = try GatehouseServerTests.temporaryDirectory()
            for path in [self.ca, self.cert, self.key] {
                try Data("pem".utf8).write(to: URL(fileURLWithPath: path))
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: self.directory) }

        func parse(endpoints: String? = "https://127.0.0.1:2379", prefix: String = "/gatehouse/", timeout: String = "5s", serverID: String? = nil) throws(EtcdSettingsError) -> EtcdBackendSettings {
            try EtcdBackendSettings.parse(endpoints: endpoints, ca: self.ca, certificate: self.cert, key: self.key, prefix: prefix, timeout: timeout, serverID: serverID)
        }
    }

    private func refusal(_ body: () throws(EtcdSettingsError) -> EtcdBackendSettings) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.message
        }
    }

    @Test func threeEndpointsTheDefaultsAndAServerID() throws {
        let files = try Files()
        defer { files.remove() }
        let settings = try files.parse(endpoints: "https://10.0.0.1:2379, https://etcd-2.example:2379,https://[::1]:32379", timeout: "1500ms", serverID: "gatehouse-1")
        #expect(settings.endpoints.map(\.description) == ["https://10.0.0.1:2379", "https://etcd-2.example:2379", "https://[::1]:32379"])
        #expect(settings.prefix == "/gatehouse/")
        #expect(settings.callTimeout == .milliseconds(1500))
        #expect(settings.serverID == "gatehouse-1")
        #expect(settings.trustRoots == files.ca && settings.certificateChain == files.cert && settings.privateKey == files.key)
        #expect(try files.parse().callTimeout == .seconds(5))
    }

    @Test func endpointsAndCertificatesAreRequired() throws {
        let files = try Files()
        defer { files.remove() }
        #expect(self.refusal { () throws(EtcdSettingsError) in try files.parse(endpoints: nil) }?.contains("--store etcd needs --etcd-endpoints") == true)
        #expect(self.refusal { () throws(EtcdSettingsError) in try files.parse(endpoints: " ") }?.contains("--etcd-endpoints") == true)
        let missing = self.refusal { () throws(EtcdSettingsError) in
            try EtcdBackendSettings.parse(endpoints: "https://127.0.0.1:2379", ca: files.ca, certificate: nil, key: nil)
        }
        #expect(missing?.contains("--store etcd needs --etcd-cert, --etcd-key") == true, "\(missing ?? "accepted")")
    }

    @Test(arguments: [
        ("http://127.0.0.1:2379", "use https://"),
        ("127.0.0.1:2379", "is not an https://host:port URL"),
        ("https://127.0.0.1", "has no port"),
        ("https://127.0.0.1:0", "is not a port number (1-65535)"),
        ("https://127.0.0.1:2379/v3", "has a path"),
        ("https://:2379", "has no host"),
        ("https://a:2379,https://a:2379", "listed twice"),
        ("https://a:2379,", "empty entry"),
    ])
    func aBadEndpointIsNamed(endpoints: String, says: String) throws {
        let files = try Files()
        defer { files.remove() }
        let message = self.refusal { () throws(EtcdSettingsError) in try files.parse(endpoints: endpoints) }
        #expect(message?.hasPrefix("--etcd-endpoints") == true, "\(message ?? "accepted")")
        #expect(message?.contains(says) == true, "\(message ?? "accepted")")
    }

    @Test func anUnreadableFileIsNamedWithItsFlag() throws {
        let files = try Files()
        defer { files.remove() }
        let absent = self.refusal { () throws(EtcdSettingsError) in
            try EtcdBackendSettings.parse(endpoints: "https://127.0.0.1:2379", ca: "\(files.directory)/nope.crt", certificate: files.cert, key: files.key)
        }
        #expect(absent == "--etcd-ca \(files.directory)/nope.crt: no such file")
        let directory = self.refusal { () throws(EtcdSettingsError) in
            try EtcdBackendSettings.parse(endpoints: "https://127.0.0.1:2379", ca: files.ca, certificate: files.directory, key: files.key)
        }
        #expect(directory?.hasPrefix("--etcd-cert \(files.directory): not a readable file") == true, "\(directory ?? "accepted")")
        if getuid() != 0 {
            // root reads whatever the mode says.
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: files.key)
            let unreadable = self.refusal { () throws(EtcdSettingsError) in try files.parse() }
            #expect(unreadable?.hasPrefix("--etcd-key \(files.key): not a readable file") == true, "\(unreadable ?? "accepted")")
        }
    }

    @Test func prefixTimeoutAndServerIDAreChecked() throws {
        let files = try Files()
        defer { files.remove() }
        #expect(self.refusal { () throws(EtcdSettingsError) in try files.parse(prefix: "/gatehouse") }?.contains("must end with \"/\"") == true)
        #expect(try files.parse(prefix: "/team-a/gatehouse/").prefix == "/team-a/gatehouse/")
        for timeout in ["5", "0s", "soon", ""] {
            #expect(self.refusal { () throws(EtcdSettingsError) in try files.parse(timeout: timeout) }?.hasPrefix("--etcd-timeout") == true, "\(timeout)")
        }
        for id in ["", "a/b", "a b", String(repeating: "x", count: 129), "é"] {
            #expect(self.refusal { () throws(EtcdSettingsError) in try files.parse(serverID: id) }?.hasPrefix("--server-id") == true, "\(id)")
        }
    }

    @Test func theServerIDDefaultsToTheListenAddress() {
        let settings = EtcdBackendSettings(endpoints: [EtcdEndpoint(host: "127.0.0.1", port: 2379)], trustRoots: "ca", certificateChain: "c", privateKey: "k")
        #expect(settings.serverID(host: "10.0.0.5", port: 7443) == "10.0.0.5:7443")
        #expect(settings.serverID(host: "::1", port: 7443) == "[::1]:7443")
        #expect(settings.serverID(host: "0.0.0.0", port: 7443) == "\(ProcessInfo.processInfo.hostName):7443")
        var named = settings
        named.serverID = "gatehouse-b"
        #expect(named.serverID(host: "10.0.0.5", port: 7443) == "gatehouse-b")
    }

    @Test func aServerOnPortZeroOverEtcdNeedsAnID() throws {
        var configuration = GatehouseServerConfiguration()
        configuration.port = 0
        var settings = EtcdBackendSettings(endpoints: [EtcdEndpoint(host: "127.0.0.1", port: 2379)], trustRoots: "ca", certificateChain: "c", privateKey: "k")
        #expect(throws: EtcdSettingsError.self) { try configuration.serverID(over: settings) }
        settings.serverID = "gatehouse-1"
        #expect(try configuration.serverID(over: settings) == "gatehouse-1")
        settings.serverID = nil
        configuration.port = 7443
        #expect(try configuration.serverID(over: settings) == "127.0.0.1:7443")
    }
}
