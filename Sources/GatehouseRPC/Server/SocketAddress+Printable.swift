import NIOCore

extension SocketAddress {
    /// `host:port`, or `[host]:port` for IPv6: what people type and logs show.
    public var hostPort: String {
        let host = self.ipAddress ?? self.pathname ?? "?"
        let port = self.port.map(String.init) ?? "?"
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
