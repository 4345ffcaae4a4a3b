import GatehouseEtcd
import Testing

@Suite("etcd client: endpoints and configuration")
struct ClientConfigurationTests {
    @Test("a comma-separated list of https URLs parses in order")
    func parsesList() throws {
        let endpoints = try EtcdEndpoint.parseList("https://10.0.0.1:2379, https://etcd-2.internal:2379,https://[::1]:32379/")
        #expect(endpoints == [
            EtcdEndpoint(host: "10.0.0.1", port: 2379),
            EtcdEndpoint(host: "etcd-2.internal", port: 2379),
            EtcdEndpoint(host: "::1", port: 32379),
        ])
        #expect(endpoints.map(\.description) == ["https://10.0.0.1:2379", "https://etcd-2.internal:2379", "https://[::1]:32379"])
    }

    @Test(
        "anything but https://host:port is refused with a message naming it",
        arguments: [
            ("http://127.0.0.1:2379", "plain http"),
            ("127.0.0.1:2379", "not an https://host:port URL"),
            ("https://127.0.0.1", "has no port"),
            ("https://127.0.0.1:0", "is not a port number"),
            ("https://127.0.0.1:99999", "is not a port number"),
            ("https://:2379", "has no host"),
            ("https://127.0.0.1:2379/v3", "has a path"),
            ("https://a:1,,https://b:2", "empty entry"),
            ("", "no etcd endpoints given"),
            ("https://a:1,https://a:1", "listed twice"),
        ]
    )
    func refusesBadEndpoints(text: String, expected: String) {
        #expect {
            _ = try EtcdEndpoint.parseList(text)
        } throws: { error in
            (error as? EtcdConfigurationError)?.message.contains(expected) == true
        }
    }

    @Test("the defaults are a 5 s call timeout and a 2 s connect timeout")
    func defaults() throws {
        let configuration = try EtcdClientConfiguration(endpoints: "https://127.0.0.1:2379", trustRootsPath: "ca", certificatePath: "c", privateKeyPath: "k")
        #expect(configuration.callTimeout == .seconds(5))
        #expect(configuration.connectTimeout == .seconds(2))
        #expect(EtcdClientConfiguration.applicationProtocol == "h2")
    }

    @Test("an unreadable CA file is refused when the client is made, naming the file")
    func unreadableCA() throws {
        let configuration = try EtcdClientConfiguration(
            endpoints: "https://127.0.0.1:2379", trustRootsPath: "/nonexistent/ca.pem",
            certificatePath: "/nonexistent/c.pem", privateKeyPath: "/nonexistent/k.pem"
        )
        #expect {
            _ = try EtcdClient(configuration: configuration)
        } throws: { error in
            "\(error)".contains("/nonexistent/")
        }
    }
}
