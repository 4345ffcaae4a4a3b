import GatehouseClient
import GatehouseCore

/// gatectl could not connect: which server it tried, from which config, what
/// went wrong in plain words, and the likely fix; never a socket or OpenSSL
/// error dump (only a failure gatectl cannot name quotes the status' message).
struct ConnectionFailure: Error, CustomStringConvertible {
    var problem: ConnectionProblem
    /// The address dialled, `host:port`.
    var server: String
    /// Where the address came from: the config file, or `--server`.
    var serverFromFlag: Bool
    /// The client config file used.
    var configPath: String
    var config: ClientConfig
    var timeout: Duration
    /// The status the connection failed with, for the problems gatectl cannot name.
    var underlying: RPCError?

    /// Unreachable or timed out exit 69 (as UNAVAILABLE does); a client config the server or the
    /// client's CA does not accept exits 78, a bad client config.
    var exitCode: Int32 {
        switch self.problem {
        case .refused, .unresolvable, .timedOut, .closedDuringHandshake, .other: 69
        case .serverNotTrusted, .nameMismatch, .clientCertificateRefused: 78
        }
    }

    /// `UNAVAILABLE` for what the network did, `CONFIG` for what the certificates did.
    var code: String {
        self.exitCode == 78 ? "CONFIG" : "UNAVAILABLE"
    }

    var description: String {
        let used = self.serverFromFlag
            ? "(server \(self.server) from --server; config \(self.configPath))"
            : "(server \(self.server) from config \(self.configPath))"
        switch self.problem {
        case .refused:
            return "connection refused by \(self.server) \(used). Is `gatehouse serve` running there, on that port? Fix the address with --server HOST:PORT or in the config."
        case .unresolvable:
            let host = (try? self.config.hostAndPort().host) ?? self.server
            return "cannot resolve the host name \(host) \(used). Check the spelling and DNS, or use an IP address with --server HOST:PORT."
        case .timedOut:
            return "no answer from \(self.server) within \(Self.text(self.timeout)) while connecting and in the TLS handshake \(used). Is it a Gatehouse server, reachable through firewalls? On a slow link raise --timeout."
        case .serverNotTrusted(let why):
            let reason = why.map { " (\($0))" } ?? ""
            return "the server's certificate is not signed by the CA in \(self.config.ca)\(reason) \(used). Use the CA of that server's installation (`ca:` in the config; gatehouse serve writes <data-dir>/pki/ca.crt), or check that \(self.server) is the server you mean."
        case .nameMismatch:
            let host = (try? self.config.hostAndPort().host) ?? self.server
            return "the server's certificate is not for \(host) \(used). Connect by a name the certificate lists (`gatehouse serve --host`), or set `server_name:` in the config to one it lists."
        case .clientCertificateRefused:
            return "the server refused this client's certificate \(self.config.certificate) \(used). It must be issued by the server's CA and not expired or revoked: issue one from it with `gatehouse certs client --ca-dir <data-dir>/pki --out-dir DIR --name NAME --role admin`, which also writes DIR/NAME.conf."
        case .closedDuringHandshake:
            return "\(self.server) closed the connection during the TLS handshake \(used). Is it a Gatehouse server (not plain HTTP or another service)? If it is, its log says why it refused."
        case .other:
            return "cannot connect to \(self.server) \(used): \(self.underlying?.message ?? "unknown failure")"
        }
    }

    private static func text(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
