import Testing
@testable import GatehouseSDK

@Suite("Endpoint parsing")
struct EndpointTests {
    @Test("host:port, IPv6 in brackets")
    func valid() throws {
        #expect(try Endpoint(parsing: "gatehouse.example:7443") == Endpoint(host: "gatehouse.example", port: 7443))
        #expect(try Endpoint(parsing: "127.0.0.1:1") == Endpoint(host: "127.0.0.1", port: 1))
        let v6 = try Endpoint(parsing: "[::1]:7443")
        #expect(v6 == Endpoint(host: "::1", port: 7443))
        #expect(v6.description == "[::1]:7443")
    }

    @Test("refusals name the input and what is wrong", arguments: [
        ("gatehouse", "no port"),
        ("gatehouse:", "is not a port number"),
        ("gatehouse:http", "is not a port number"),
        ("gatehouse:0", "is not a port number"),
        ("gatehouse:65536", "is not a port number"),
        (":7443", "no host"),
        ("::1:7443", "needs brackets"),
        ("[::1]7443", "no port"),
        ("[::1:7443", "without \"]\""),
        ("gate house:7443", "whitespace"),
    ])
    func invalid(input: String, expected: String) {
        #expect {
            try Endpoint(parsing: input)
        } throws: { error in
            let text = String(describing: error)
            return text.contains(expected) && text.contains("\"\(input)\"")
        }
    }

    @Test("a list needs at least one endpoint and stops at the first bad one")
    func list() throws {
        #expect(try Endpoint.parseList(["a:1", "b:2"]).map(\.description) == ["a:1", "b:2"])
        #expect(throws: EndpointError.self) { try Endpoint.parseList([]) }
        #expect(throws: EndpointError(input: "b", reason: "no port; expected host:port, e.g. gatehouse.example:7443")) {
            try Endpoint.parseList(["a:1", "b"])
        }
    }
}
