/// One etcd member's client URL, `https://host:port`.
///
/// Only `https` is accepted: Gatehouse always speaks to etcd over mutual TLS,
/// so an `http://` URL is a configuration mistake to refuse at start-up, not
/// something to discover as a handshake failure on the first write.
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host name or IP address (IPv6 without brackets); also the name the
    /// member's certificate must carry.
    public var host: String
    /// The client port (etcd's default is 2379).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `https://host:port`, brackets around an IPv6 address.
    public var description: String {
        self.host.contains(":") ? "https://[\(self.host)]:\(self.port)" : "https://\(self.host):\(self.port)"
    }

    /// `host:port` as the HTTP/2 `:authority` header carries it.
    var authority: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    /// Parses one `https://host:port` URL (`https://[v6]:port` for IPv6).
    ///
    /// - Throws: ``EtcdConfigurationError`` naming the URL and what is wrong with it.
    public static func parse(_ text: String) throws(EtcdConfigurationError) -> EtcdEndpoint {
        let url = text.trimmingWhitespace()
        guard url.hasPrefix("https://") else {
            if url.hasPrefix("http://") {
                throw EtcdConfigurationError("etcd endpoint \"\(url)\" is plain http; Gatehouse talks to etcd over mutual TLS only: use https://host:port (and --etcd-ca, --etcd-cert, --etcd-key)")
            }
            throw EtcdConfigurationError("etcd endpoint \"\(url)\" is not an https://host:port URL")
        }
        var rest = url.dropFirst("https://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            throw EtcdConfigurationError("etcd endpoint \"\(url)\" has a path, user or query; give only https://host:port")
        }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let afterHost = rest[rest.index(after: close)...]
            guard afterHost.hasPrefix(":") else {
                throw EtcdConfigurationError("etcd endpoint \"\(url)\" has no port; expected https://[host]:port")
            }
            portText = afterHost.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw EtcdConfigurationError("etcd endpoint \"\(url)\" has no port; expected https://host:port (etcd's client port is usually 2379)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw EtcdConfigurationError("etcd endpoint \"\(url)\" has no host")
        }
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw EtcdConfigurationError("\"\(portText)\" in etcd endpoint \"\(url)\" is not a port number (1-65535)")
        }
        return EtcdEndpoint(host: String(host), port: port)
    }

    /// Parses a comma-separated list of URLs (`--etcd-endpoints`); order is kept, duplicates refused.
    ///
    /// - Throws: ``EtcdConfigurationError`` for an empty list, a bad URL or a repeated one.
    public static func parseList(_ text: String) throws(EtcdConfigurationError) -> [EtcdEndpoint] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
        guard parts.contains(where: { !$0.isEmpty }) else {
            throw EtcdConfigurationError("no etcd endpoints given; expected a comma-separated list like https://10.0.0.1:2379,https://10.0.0.2:2379")
        }
        var endpoints: [EtcdEndpoint] = []
        for part in parts {
            guard !part.isEmpty else {
                throw EtcdConfigurationError("empty entry in etcd endpoint list \"\(text)\"")
            }
            let endpoint = try parse(part)
            guard !endpoints.contains(endpoint) else {
                throw EtcdConfigurationError("etcd endpoint \(endpoint) is listed twice")
            }
            endpoints.append(endpoint)
        }
        return endpoints
    }
}

/// An etcd client setting that cannot be used; the message names the value and the fix.
public struct EtcdConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines (no Foundation here).
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }), let last = self.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
