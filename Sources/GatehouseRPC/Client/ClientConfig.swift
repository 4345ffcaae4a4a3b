/// Where a client connects and with which certificates.
///
/// `gatehouse serve` writes one for its development admin as
/// `<data-dir>/admin.conf` (YAML, like a kubeconfig); `gatectl` and the SDK
/// read it. Relative paths are resolved against the file's directory.
public struct ClientConfig: Codable, Hashable, Sendable {
    /// `host:port` of the server.
    public var server: String
    /// PEM CA bundle that signed the server's certificate.
    public var ca: String
    /// PEM client certificate: the caller's identity.
    public var certificate: String
    /// PEM private key of `certificate`.
    public var key: String
    /// The name the server certificate must carry, when it differs from the host in `server`.
    public var serverName: String?

    enum CodingKeys: String, CodingKey {
        case server, ca, certificate, key
        case serverName = "server_name"
    }

    public init(server: String, ca: String, certificate: String, key: String, serverName: String? = nil) {
        self.server = server
        self.ca = ca
        self.certificate = certificate
        self.key = key
        self.serverName = serverName
    }

    /// Splits `server` into host and port; `[::1]:7443` form for IPv6.
    public func hostAndPort() throws(RPCError) -> (host: String, port: Int) {
        try Self.parseAddress(self.server)
    }

    /// Parses `host:port` or `[v6]:port`.
    public static func parseAddress(_ address: String) throws(RPCError) -> (host: String, port: Int) {
        var host: Substring
        let portText: Substring
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = address[address.index(after: address.startIndex)..<close]
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":") else { throw RPCError(.invalidArgument, "\"\(address)\" has no port; expected [host]:port") }
            portText = rest.dropFirst()
        } else {
            guard let colon = address.lastIndex(of: ":") else {
                throw RPCError(.invalidArgument, "\"\(address)\" has no port; expected host:port")
            }
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw RPCError(.invalidArgument, "\"\(portText)\" in \"\(address)\" is not a port number (0-65535)")
        }
        if host.isEmpty { host = "127.0.0.1" }
        return (String(host), port)
    }

    /// The config with relative paths made absolute against `directory`.
    public func resolvingPaths(against directory: String) -> ClientConfig {
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : "\(directory)/\(path)"
        }
        var resolved = self
        resolved.ca = resolve(self.ca)
        resolved.certificate = resolve(self.certificate)
        resolved.key = resolve(self.key)
        return resolved
    }
}
