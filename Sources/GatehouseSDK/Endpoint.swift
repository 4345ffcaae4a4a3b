/// One Gatehouse server a component may connect to.
///
/// Components get a list of them and fail over from one to the next, so a
/// server that drains or dies costs a reconnect, not an outage.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, or `[v6address]:port` for IPv6.
    ///
    /// Refused with a message that names the input: no port, a port outside
    /// 1…65535 (0 cannot be connected to), or an empty host.
    public init(parsing text: String) throws(EndpointError) {
        func fail(_ why: String) -> EndpointError {
            EndpointError(input: text, reason: why)
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("\"[\" without \"]\"; expected [v6address]:port") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("no port; expected [v6address]:port") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("no port; expected host:port, e.g. gatehouse.example:7443") }
            host = text[..<colon]
            guard !host.contains(":") else { throw fail("an IPv6 address needs brackets: [v6address]:port") }
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw fail("no host; expected host:port") }
        guard !host.contains(where: \.isWhitespace) else { throw fail("the host contains whitespace") }
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw fail("\"\(portText)\" is not a port number (1-65535)")
        }
        self.init(host: String(host), port: port)
    }

    /// Parses each of `texts`; the first bad one is refused, and an empty list too.
    public static func parseList(_ texts: [String]) throws(EndpointError) -> [Endpoint] {
        guard !texts.isEmpty else { throw EndpointError(input: "", reason: "at least one endpoint (host:port) is required") }
        var endpoints: [Endpoint] = []
        for text in texts {
            endpoints.append(try Endpoint(parsing: text))
        }
        return endpoints
    }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// An endpoint that is not `host:port`.
public struct EndpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text as given.
    public var input: String
    /// What is wrong with it.
    public var reason: String

    public var description: String {
        self.input.isEmpty ? "invalid endpoints: \(self.reason)" : "invalid endpoint \"\(self.input)\": \(self.reason)"
    }
}
