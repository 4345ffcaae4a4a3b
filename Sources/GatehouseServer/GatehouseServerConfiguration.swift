import GatehouseRPC
import GatehouseTLS
import NIOCore

/// Everything `gatehouse serve` can be told; the defaults run a development
/// server on loopback with certificates it creates itself.
public struct GatehouseServerConfiguration: Sendable {
    /// Where state and the development PKI live (with etcd: the PKI and policy only).
    public var dataDirectory: String = "./gatehouse-data"
    /// Where the gate state is kept: the data directory's SQLite database, or an etcd cluster shared with other servers.
    public var store: StoreBackend = .sqlite
    public var host: String = "127.0.0.1"
    /// 0 picks a free port.
    public var port: Int = 7443
    /// The server's own certificates; nil creates (once) and uses a development PKI in the data directory.
    public var tls: TLSFiles?
    public var limits = RPCServerLimits()
    /// The access policy file; nil means `<data-dir>/policy.yaml`, which a
    /// development server writes when it is missing.
    public var policyPath: String?
    /// Committed batches kept in memory (and reloaded from the audit log at
    /// start) so a reconnecting subscriber gets only what it missed.
    public var subscriptionHistory = 1000
    /// Changes queued per subscriber before they are coalesced into its latest state.
    public var subscriberQueue = 64
    /// Changes pushed to a subscriber that completes no write before it is cut off (RESOURCE_EXHAUSTED).
    public var subscriberCutoff = 4096
    /// How often subscribers are sent the current revision when nothing changes.
    public var heartbeatInterval: Duration = .seconds(10)
    /// How often running rollouts are looked at (widened, completed or rolled back).
    public var rolloutTickInterval: Duration = .milliseconds(500)
    /// Over SQLite, how long an instance disconnected (or, never connected, last seen)
    /// is still listed, across restarts, before it is forgotten (``InstancePersistence``).
    public var instanceRetention: Duration = .seconds(24 * 3600)
    /// Over SQLite, how often changed instance records are written to the store.
    public var instanceFlushInterval: Duration = .seconds(2)
    /// Bounds on what one request may make the server keep or record; its
    /// audit-entry bound follows `limits.maxFrameSize` (see ``requestLimitsInEffect``).
    public var requestLimits = RequestLimits()
    /// The operations listener (Prometheus `/metrics`, `/healthz`, `/readyz`, plain
    /// HTTP); nil serves none, and the server then records no metrics at all.
    public var metricsListener: MetricsListener?

    /// Where the operations listener binds.
    public struct MetricsListener: Sendable, Hashable {
        public var host: String
        /// 0 picks a free port, reported in ``GatehouseServer/Listening/metricsAddress``.
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The store behind the server.
    public enum StoreBackend: Sendable, Hashable {
        /// `<data-dir>/gatehouse.db`: one server, which locks the directory.
        case sqlite
        /// An etcd cluster: several servers over one prefix, each watching it.
        case etcd(EtcdBackendSettings)
    }

    /// PEM files for the server's TLS.
    public struct TLSFiles: Sendable, Hashable {
        public var certificateChain: String
        public var privateKey: String
        /// The CA bundle client certificates must chain to.
        public var clientCA: String
        public var crl: String?

        public init(certificateChain: String, privateKey: String, clientCA: String, crl: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
            self.crl = crl
        }
    }

    public init() {}

    /// The id this server goes by among the servers sharing its etcd store:
    /// `--server-id`, else the `host:port` it listens on.
    ///
    /// - Throws: when the port is 0 and no id is given: the port is only picked
    ///   at bind time, after the id was needed, and `host:0` would name every such server alike.
    public func serverID(over settings: EtcdBackendSettings) throws(EtcdSettingsError) -> String {
        guard settings.serverID != nil || self.port != 0 else {
            throw EtcdSettingsError("--listen \(self.host):0 picks its port at start, too late to name this server to its peers: pass --server-id (e.g. --server-id gatehouse-1), or a fixed port")
        }
        return settings.serverID(host: self.host, port: self.port)
    }

    /// ``requestLimits`` with audit entries bounded to fit a History response
    /// in a frame of the server's own maximum frame size.
    var requestLimitsInEffect: RequestLimits {
        var limits = self.requestLimits
        limits.maxAuditEntryOctets = RequestLimits(maxFrameSize: self.limits.maxFrameSize).maxAuditEntryOctets
        return limits
    }

    /// The TLS configuration for `files`, with the limits' handshake timeout.
    func tlsConfiguration(_ files: TLSFiles) -> TLSConfiguration {
        TLSConfiguration(
            certificateChainPath: files.certificateChain,
            privateKeyPath: files.privateKey,
            trustRootsPath: files.clientCA,
            crlPath: files.crl,
            applicationProtocols: [RPCProtocol.alpn],
            minimumVersion: .v1_2,
            handshakeTimeout: self.limits.handshakeTimeout
        )
    }
}
