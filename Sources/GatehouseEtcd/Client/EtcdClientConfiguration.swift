import GatehouseTLS
import NIOCore

/// Where the etcd members are and how to reach them: the endpoints, the
/// mutual-TLS files, and how long a call and a connection attempt may take.
public struct EtcdClientConfiguration: Sendable, Hashable {
    /// The members' client URLs, tried in this order and then round robin.
    public var endpoints: [EtcdEndpoint]
    /// PEM CA bundle that signed the members' server certificates (`--etcd-ca`).
    public var trustRootsPath: String
    /// PEM client certificate etcd checks with `--client-cert-auth` (`--etcd-cert`).
    public var certificatePath: String
    /// PEM private key of ``certificatePath`` (`--etcd-key`).
    public var privateKeyPath: String
    /// How long one call may take in all, failover included; sent to etcd as
    /// `grpc-timeout` and enforced locally (`--etcd-timeout`, default 5 s).
    public var callTimeout: TimeAmount
    /// How long one connection attempt (TCP and TLS) may take before the next
    /// endpoint is tried (default 2 s): a SIGSTOPped member accepts TCP but never finishes a handshake.
    public var connectTimeout: TimeAmount

    /// The ALPN protocol etcd's gRPC server must agree to. Not configurable:
    /// without HTTP/2 there is no gRPC, and a member that does not say `h2`
    /// is refused with an error that says so.
    public static let applicationProtocol = "h2"

    public init(
        endpoints: [EtcdEndpoint],
        trustRootsPath: String,
        certificatePath: String,
        privateKeyPath: String,
        callTimeout: TimeAmount = .seconds(5),
        connectTimeout: TimeAmount = .seconds(2)
    ) {
        self.endpoints = endpoints
        self.trustRootsPath = trustRootsPath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.callTimeout = callTimeout
        self.connectTimeout = connectTimeout
    }

    /// A configuration from `--etcd-endpoints`' comma-separated `https://host:port` list.
    ///
    /// - Throws: ``EtcdConfigurationError`` naming the bad endpoint.
    public init(
        endpoints: String,
        trustRootsPath: String,
        certificatePath: String,
        privateKeyPath: String,
        callTimeout: TimeAmount = .seconds(5),
        connectTimeout: TimeAmount = .seconds(2)
    ) throws(EtcdConfigurationError) {
        self.init(
            endpoints: try EtcdEndpoint.parseList(endpoints),
            trustRootsPath: trustRootsPath,
            certificatePath: certificatePath,
            privateKeyPath: privateKeyPath,
            callTimeout: callTimeout,
            connectTimeout: connectTimeout
        )
    }

    /// The TLS client configuration: our certificate, the CA, ALPN `h2` only,
    /// and a handshake bounded by the connect timeout.
    var tlsConfiguration: TLSConfiguration {
        TLSConfiguration(
            certificateChainPath: self.certificatePath,
            privateKeyPath: self.privateKeyPath,
            trustRootsPath: self.trustRootsPath,
            applicationProtocols: [Self.applicationProtocol],
            handshakeTimeout: self.connectTimeout
        )
    }
}
