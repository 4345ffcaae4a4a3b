import GatehouseRPC
import Logging

extension GatehouseComponent {
    /// Everything a component needs to boot: where the servers are, who it is, what it was built with.
    public struct Configuration: Sendable {
        /// Servers in order of preference; the SDK fails over to the next on each failure.
        public var endpoints: [Endpoint]
        public var tls: TLS
        public var identity: Identity
        /// Features compiled into the binary: registered, and the defaults when nothing else is known.
        public var features: [KnownFeature]
        /// APIs compiled into the binary: registered, and the defaults when nothing else is known.
        public var apis: [KnownAPI]
        /// Where the state applied last is saved for the next boot; nil boots on compiled defaults only.
        public var lastKnownGoodPath: String?
        /// How long `waitForBoot()` waits for a server before booting stale, counted from the component's creation.
        public var bootDeadline: Duration
        /// Delays between reconnect attempts.
        public var backoff: Backoff
        /// How long the last state is kept unchanged while offline before alpha entries fail closed.
        public var offlineTTL: Duration
        /// A subscription that delivers nothing (not even a heartbeat) for this long is taken for dead.
        public var idleTimeout: Duration
        /// Timeout of the TCP, TLS and HELLO exchange, and of the Register call.
        public var connectTimeout: Duration
        /// The application's health check, run on a schedule; nil when the
        /// application reports with `reportHealth(_:)` only (or not at all).
        public var healthCheck: HealthCheck?
        /// How often an unhealthy status is sent again while it lasts: the
        /// server's heartbeat interval (10 s unless its configuration says otherwise).
        public var healthRepeatInterval: Duration
        /// Called with every change before reads switch to it; a throw from a server update is a NACK.
        ///
        /// Updates are delivered one at a time, so the handler must not wait for the component
        /// (`waitForBoot()`, `changes`): read `update.snapshot` instead. A throw on an offline-policy
        /// or boot update is logged and the update applies anyway: those are the safe fallbacks.
        public var handler: (@Sendable (StateUpdate) async throws -> Void)?
        public var logger: Logger
        /// Injected by tests.
        var clock: any ComponentClock = ContinuousComponentClock()

        public init(
            endpoints: [Endpoint],
            tls: TLS,
            identity: Identity,
            features: [KnownFeature] = [],
            apis: [KnownAPI] = [],
            lastKnownGoodPath: String? = nil,
            bootDeadline: Duration = .seconds(5),
            backoff: Backoff = Backoff(),
            offlineTTL: Duration = .seconds(300),
            idleTimeout: Duration = .seconds(60),
            connectTimeout: Duration = .seconds(5),
            healthCheck: HealthCheck? = nil,
            healthRepeatInterval: Duration = .seconds(10),
            logger: Logger = Logger(label: "gatehouse.sdk"),
            handler: (@Sendable (StateUpdate) async throws -> Void)? = nil
        ) {
            self.endpoints = endpoints
            self.tls = tls
            self.identity = identity
            self.features = features
            self.apis = apis
            self.lastKnownGoodPath = lastKnownGoodPath
            self.bootDeadline = bootDeadline
            self.backoff = backoff
            self.offlineTTL = offlineTTL
            self.idleTimeout = idleTimeout
            self.connectTimeout = connectTimeout
            self.healthCheck = healthCheck
            self.healthRepeatInterval = healthRepeatInterval
            self.logger = logger
            self.handler = handler
        }

        /// The offline policy from `offlineTTL` and the per-entry choices of the known features and APIs.
        public var offlinePolicy: OfflinePolicy {
            OfflinePolicy(
                ttl: self.offlineTTL,
                features: Dictionary(
                    self.features.compactMap { feature in feature.offlineBehavior.map { (feature.name, $0) } },
                    uniquingKeysWith: { _, last in last }
                ),
                apis: Dictionary(
                    self.apis.compactMap { api in api.offlineBehavior.map { (api.ref, $0) } },
                    uniquingKeysWith: { _, last in last }
                )
            )
        }
    }

    /// The certificate files of mutual TLS.
    ///
    /// Read again at every connection attempt, so rotated certificates are picked up without a restart.
    public struct TLS: Hashable, Sendable {
        /// PEM client certificate (chain); its identity must be allowed the component role for `Identity.component`.
        public var certificateChainPath: String
        public var privateKeyPath: String
        /// PEM CA bundle that signed the servers' certificates.
        public var trustRootsPath: String
        /// The name the server certificates carry, when it is not the endpoint's host.
        public var serverName: String?

        public init(certificateChainPath: String, privateKeyPath: String, trustRootsPath: String, serverName: String? = nil) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
            self.trustRootsPath = trustRootsPath
            self.serverName = serverName
        }

        /// The files of a client config (`admin.conf` or `~/.gatehouse/config`).
        public init(clientConfig: ClientConfig) {
            self.init(
                certificateChainPath: clientConfig.certificate,
                privateKeyPath: clientConfig.key,
                trustRootsPath: clientConfig.ca,
                serverName: clientConfig.serverName
            )
        }
    }

    /// Who this instance is.
    public struct Identity: Hashable, Sendable {
        /// Component name, e.g. `kubelet`.
        public var component: String
        /// Unique within the component and stable across restarts, e.g. `node-17`.
        public var instanceID: String
        /// The binary's version (semver), used by the server's skew guard.
        public var version: String
        /// Free-form labels, e.g. `["zone": "eu-west-1a"]`; rollouts may select on them.
        public var labels: [String: String]

        public init(component: String, instanceID: String, version: String, labels: [String: String] = [:]) {
            self.component = component
            self.instanceID = instanceID
            self.version = version
            self.labels = labels
        }
    }
}
