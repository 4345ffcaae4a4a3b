import ArgumentParser
import Foundation
import GatehouseRPC
import GatehouseServer
import Logging
import NIOCore
import ServiceLifecycle

/// `gatehouse serve`: run the server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Gatehouse server.",
        discussion: """
            With no TLS options, a development CA, a server certificate and an admin
            client certificate are created once under <data-dir>/pki, and a client
            config for the admin is written to <data-dir>/admin.conf (its path is
            printed). Production deployments pass --tls-cert, --tls-key and --client-ca.

            Every call is authorized by the caller's certificate identity through an
            access policy (YAML); identities it does not name are refused:
              bindings:
                - role: admin            # admin, operator, viewer or component
                  subjects:
                    - common_name: alice         # all fields set must match
                - role: component
                  subjects:
                    - organization: component    # the component's name is the CN
                    - uri_prefix: "spiffe://cluster/component/"

            Once listening, the server prints "listening on HOST:PORT" on standard
            output; logs go to standard error. SIGTERM or SIGINT drains: GOAWAY to every
            client, in-flight calls finish (up to --shutdown-grace), subscriptions end
            with UNAVAILABLE (clients resume elsewhere or after the restart), then exit 0.

            Components subscribe to their effective state; each subscriber has a queue of
            --subscriber-queue changes, past which its pending changes collapse into its
            latest state, and is cut off after --subscriber-cutoff changes it did not read.

            Several servers share one state with --store etcd: each keeps its snapshot
            current by watching etcd under --etcd-prefix, writes go to etcd as one
            transaction per group commit, instances registered with any server are seen
            by all (`gatectl components` shows which server holds each), and one server
            at a time (elected through an etcd lease) drives rollouts. Revisions stay one
            sequence across servers, so a subscriber resumes on any of them. The data
            directory then holds only the PKI and policy: give every server the same
            certificates (--tls-cert/--tls-key/--client-ca) and --policy. When etcd does
            not answer within --etcd-timeout, writes fail with UNAVAILABLE and etcd's message.

            Metrics and probes: --metrics-address HOST:PORT opens a second listener,
            plain HTTP (off unless given; port 0 picks one, printed as "metrics on ..."):
              GET /metrics  Prometheus text format 0.0.4: gatehouse_feature_enabled,
                            connections, TLS handshakes, subscribers, commit and
                            fan-out latency, NACKs, rollouts (README: Operations)
              GET /healthz  200 while the process and its event loops answer (liveness)
              GET /readyz   200 once the store is open and the RPC listener accepts;
                            503 and a one-line reason while starting or draining,
                            and (--store etcd) while etcd cannot be reached (readiness)
            It has no TLS and no authorization: bind it to loopback, or to the pod's
            address when a kubelet and Prometheus must reach it (0.0.0.0:9090).

            Examples:
              gatehouse serve
              gatehouse serve --listen 0.0.0.0:7443 --data-dir /var/lib/gatehouse
              gatehouse serve --metrics-address 127.0.0.1:9090
              gatehouse serve --tls-cert server.crt --tls-key server.key --client-ca ca.crt

            Three servers over a three-member etcd cluster. Scripts/etcd-cluster.sh start DIR
            starts one on loopback and prints the --store etcd flags for it (ETCD below);
            the servers share one set of certificates and one policy (TLS below):
              ETCD="--store etcd --etcd-endpoints https://127.0.0.1:23790,https://127.0.0.1:23791,https://127.0.0.1:23792
                    --etcd-ca DIR/pki/ca.crt --etcd-cert DIR/pki/gatehouse.crt --etcd-key DIR/pki/gatehouse.key"
              TLS="--tls-cert s.crt --tls-key s.key --client-ca ca.crt --policy p.yaml"
              gatehouse serve $ETCD $TLS --server-id a --data-dir a --listen 127.0.0.1:7443
              gatehouse serve $ETCD $TLS --server-id b --data-dir b --listen 127.0.0.1:7444
              gatehouse serve $ETCD $TLS --server-id c --data-dir c --listen 127.0.0.1:7445
            Components list all three to fail over between them:
              example-component --endpoint 127.0.0.1:7443 --endpoint 127.0.0.1:7444 --endpoint 127.0.0.1:7445
            """
    )

    @Option(help: "Directory for state and the development PKI (with --store etcd: the PKI and policy only).")
    var dataDir = "./gatehouse-data"

    @Option(help: "Where the gate state is kept: sqlite (<data-dir>/gatehouse.db, one server) or etcd (several servers sharing one etcd cluster).")
    var store: StoreKind = .sqlite

    @Option(help: "With --store etcd: etcd's client URLs, comma-separated https://host:port.")
    var etcdEndpoints: String?

    @Option(name: .customLong("etcd-ca"), help: "With --store etcd: the CA bundle (PEM) etcd's certificates chain to.")
    var etcdCA: String?

    @Option(help: "With --store etcd: this server's client certificate for etcd (PEM).")
    var etcdCert: String?

    @Option(help: "With --store etcd: the private key (PEM) of --etcd-cert.")
    var etcdKey: String?

    @Option(help: "With --store etcd: the key prefix the servers share, ending with / (default \(EtcdBackendSettings.defaultPrefix)); another prefix is another, separate state.")
    var etcdPrefix: String?

    @Option(help: "With --store etcd: how long one etcd call may take (5s, 1500ms) before the caller gets UNAVAILABLE (default 5s).")
    var etcdTimeout: String?

    @Option(name: .customLong("server-id"), help: "With --store etcd: this server's name among its peers, shown by `gatectl components` (default: its listen HOST:PORT).")
    var serverID: String?

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:7443"

    @Option(help: "Serve /metrics (Prometheus), /healthz and /readyz over plain HTTP at HOST:PORT (port 0 picks one); off unless given.")
    var metricsAddress: String?

    @Option(help: "Server certificate chain (PEM). Needs --tls-key and --client-ca.")
    var tlsCert: String?

    @Option(help: "Server private key (PEM).")
    var tlsKey: String?

    @Option(help: "CA bundle (PEM) that client certificates must chain to.")
    var clientCA: String?

    @Option(help: "Certificate revocation list (PEM) checked for client certificates.")
    var crl: String?

    @Option(help: "Access policy (YAML) mapping certificate identities to roles. Default: <data-dir>/policy.yaml, written for development servers when missing.")
    var policy: String?

    @Option(help: "Most authenticated connections open at once (TLS handshakes in progress are counted apart).")
    var maxConnections = 1_000

    @Option(help: "Of --max-connections, how many only admin and operator certificates may use.")
    var reservedConnections = 50

    @Option(help: "Most connections in their TLS handshake at once; past it the oldest pending handshake is dropped, silent sockets first.")
    var maxHandshakes = 128

    @Option(help: "Most concurrent calls on one connection.")
    var maxCallsPerConnection = 100

    @Option(help: "Largest frame payload accepted, in bytes (16384-16777215).")
    var maxFrameSize = 1_048_576

    @Option(help: "Seconds a client has for the TLS handshake and HELLO.")
    var handshakeTimeout = 10.0

    @Option(help: "Seconds after which a connection with no call is closed.")
    var idleTimeout = 300.0

    @Option(help: "Seconds of silence before the server pings a client.")
    var keepaliveInterval = 30.0

    @Option(help: "Metadata one call may carry, in bytes (key + value + 32 per entry).")
    var maxCallMetadata = 16_384

    @Option(help: "Metadata the open calls of one connection may hold together, in bytes.")
    var maxConnectionMetadata = 262_144

    @Option(help: "Bytes written to a client and not yet read by it, past which the server stops reading from it.")
    var maxPendingOutput = 262_144

    @Option(help: "PINGs a client may send per 10 s; one more ends its connection with ENHANCE_YOUR_CALM.")
    var maxPings = 100

    @Option(help: "CANCEL frames a client may send per 10 s; one more ends its connection with ENHANCE_YOUR_CALM.")
    var maxCancels = 200

    @Option(help: "Seconds in-flight calls may run after a shutdown signal.")
    var shutdownGrace = 10.0

    @Option(help: "Committed batches kept (and reloaded from the audit log at start) so a reconnecting subscriber gets only what it missed; older resumes get a snapshot.")
    var subscriptionHistory = 1000

    @Option(help: "Changes queued per subscriber before they are coalesced into its latest state.")
    var subscriberQueue = 64

    @Option(help: "Changes pushed to a subscriber that completes no write before it is cut off with RESOURCE_EXHAUSTED.")
    var subscriberCutoff = 4096

    @Option(help: "Seconds between heartbeats on idle subscriptions.")
    var heartbeatInterval = 10.0

    @Option(help: "Seconds between looks at running rollouts: how soon a baked step widens or unhealthy canaries roll it back.")
    var rolloutTick = 0.5

    @Option(help: "Instances kept per component; a new one past it replaces the longest-disconnected instance, or is refused with RESOURCE_EXHAUSTED.")
    var maxInstancesPerComponent = 10_000

    @Option(help: "Seconds an instance must have been disconnected before a new instance of a full component may replace it.")
    var instanceEvictionAfter = 3600.0

    @Option(help: "Over SQLite, which keeps the instance list across restarts: seconds a disconnected instance stays listed before it is forgotten (86400: a day). Over etcd an instance leaves with its server's lease.")
    var instanceRetention = 86_400.0

    @Option(help: "Changes one Features/Set may carry (INVALID_ARGUMENT past it); audit entries are measured and bounded whatever this is.")
    var maxChangesPerSet = RequestLimits().maxChangesPerSet

    @Option(help: "Octets of the reason a write may give (INVALID_ARGUMENT past it).")
    var maxReasonLength = RequestLimits().maxReasonOctets

    @Option(help: "Labels one instance may register (INVALID_ARGUMENT past it).")
    var maxLabels = RequestLimits().maxLabels

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        let tlsOptions = [self.tlsCert, self.tlsKey, self.clientCA].compactMap { $0 }
        guard tlsOptions.isEmpty || tlsOptions.count == 3 else {
            throw ValidationError("--tls-cert, --tls-key and --client-ca go together: pass all three, or none for development certificates")
        }
        guard (16_384...16_777_215).contains(self.maxFrameSize) else {
            throw ValidationError("--max-frame-size must be between 16384 and 16777215")
        }
        for (name, value) in [("--handshake-timeout", self.handshakeTimeout), ("--idle-timeout", self.idleTimeout), ("--keepalive-interval", self.keepaliveInterval)] {
            guard value > 0 else { throw ValidationError("\(name) must be positive") }
        }
        guard self.heartbeatInterval > 0 else { throw ValidationError("--heartbeat-interval must be positive") }
        guard self.rolloutTick > 0 else { throw ValidationError("--rollout-tick must be positive") }
        guard self.instanceRetention > 0 else { throw ValidationError("--instance-retention must be positive") }
        guard self.subscriptionHistory >= 0 else { throw ValidationError("--subscription-history must be 0 or more") }
        guard self.subscriberQueue > 0, self.subscriberCutoff >= self.subscriberQueue else {
            throw ValidationError("--subscriber-queue must be positive and --subscriber-cutoff at least as large")
        }
        guard self.maxInstancesPerComponent > 0, self.maxChangesPerSet > 0, self.maxReasonLength >= 0, self.maxLabels >= 0, self.instanceEvictionAfter >= 0 else {
            throw ValidationError("--max-instances-per-component and --max-changes-per-set must be positive; --max-reason-length, --max-labels and --instance-eviction-after 0 or more")
        }
        guard self.maxConnections > 0, self.maxCallsPerConnection > 0 else {
            throw ValidationError("--max-connections and --max-calls-per-connection must be positive")
        }
        guard self.maxHandshakes > 0, (0..<self.maxConnections).contains(self.reservedConnections) else {
            throw ValidationError("--max-handshakes must be positive, and --reserved-connections 0 or more and less than --max-connections")
        }
        let counts = [
            ("--max-call-metadata", self.maxCallMetadata), ("--max-connection-metadata", self.maxConnectionMetadata),
            ("--max-pending-output", self.maxPendingOutput), ("--max-pings", self.maxPings), ("--max-cancels", self.maxCancels),
        ]
        for (name, value) in counts {
            guard value > 0 else { throw ValidationError("\(name) must be positive") }
        }
        do {
            _ = try ClientConfig.parseAddress(self.listen)
        } catch {
            throw ValidationError("--listen: \(error.message)")
        }
        if let metricsAddress {
            do {
                _ = try ClientConfig.parseAddress(metricsAddress)
            } catch {
                throw ValidationError("--metrics-address: \(error.message)")
            }
        }
        _ = try self.storeBackend()
    }

    /// The store the flags choose; etcd's settings checked (files readable, endpoints well formed).
    func storeBackend() throws -> GatehouseServerConfiguration.StoreBackend {
        switch self.store {
        case .sqlite:
            let etcdFlags = [
                ("--etcd-endpoints", self.etcdEndpoints), ("--etcd-ca", self.etcdCA), ("--etcd-cert", self.etcdCert), ("--etcd-key", self.etcdKey),
                ("--etcd-prefix", self.etcdPrefix), ("--etcd-timeout", self.etcdTimeout), ("--server-id", self.serverID),
            ].filter { $0.1 != nil }.map(\.0)
            guard etcdFlags.isEmpty else {
                let (verb, them) = etcdFlags.count == 1 ? ("applies", "it") : ("apply", "them")
                throw ValidationError("\(etcdFlags.joined(separator: ", ")) \(verb) only with --store etcd; add --store etcd, or drop \(them) to keep the SQLite store")
            }
            return .sqlite
        case .etcd:
            do {
                let settings = try EtcdBackendSettings.parse(
                    endpoints: self.etcdEndpoints, ca: self.etcdCA, certificate: self.etcdCert, key: self.etcdKey,
                    prefix: self.etcdPrefix ?? EtcdBackendSettings.defaultPrefix, timeout: self.etcdTimeout ?? "5s", serverID: self.serverID
                )
                var listening = GatehouseServerConfiguration()
                (listening.host, listening.port) = try ClientConfig.parseAddress(self.listen)
                _ = try listening.serverID(over: settings)
                return .etcd(settings)
            } catch let error as EtcdSettingsError {
                throw ValidationError(error.message)
            }
        }
    }

    func run() async throws {
        let level = self.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            // Lines quote what clients sent: control characters in it must not forge lines.
            return EscapingLogHandler(handler)
        }
        let logger = Logger(label: "gatehouse")

        var configuration = GatehouseServerConfiguration()
        configuration.dataDirectory = self.dataDir
        configuration.store = try self.storeBackend()
        (configuration.host, configuration.port) = try ClientConfig.parseAddress(self.listen)
        if let tlsCert, let tlsKey, let clientCA {
            configuration.tls = .init(certificateChain: tlsCert, privateKey: tlsKey, clientCA: clientCA, crl: self.crl)
        }
        configuration.policyPath = self.policy
        if let metricsAddress {
            let (host, port) = try ClientConfig.parseAddress(metricsAddress)
            configuration.metricsListener = .init(host: host, port: port)
        }
        configuration.limits.maxConnections = self.maxConnections
        configuration.limits.reservedConnections = self.reservedConnections
        configuration.limits.maxHandshakes = self.maxHandshakes
        configuration.limits.maxConcurrentCallsPerConnection = self.maxCallsPerConnection
        configuration.limits.maxFrameSize = UInt32(self.maxFrameSize)
        configuration.limits.handshakeTimeout = .seconds(self.handshakeTimeout)
        configuration.limits.idleTimeout = .seconds(self.idleTimeout)
        configuration.limits.keepaliveInterval = .seconds(self.keepaliveInterval)
        configuration.limits.shutdownGracePeriod = .seconds(self.shutdownGrace)
        configuration.limits.maxMetadataPerCall = self.maxCallMetadata
        configuration.limits.maxMetadataPerConnection = self.maxConnectionMetadata
        configuration.limits.maxPendingOutput = self.maxPendingOutput
        configuration.limits.maxPingsPerWindow = self.maxPings
        configuration.limits.maxCancelsPerWindow = self.maxCancels
        configuration.subscriptionHistory = self.subscriptionHistory
        configuration.subscriberQueue = self.subscriberQueue
        configuration.subscriberCutoff = self.subscriberCutoff
        configuration.heartbeatInterval = .milliseconds(Int64(self.heartbeatInterval * 1000))
        configuration.instanceRetention = .milliseconds(Int64(self.instanceRetention * 1000))
        configuration.rolloutTickInterval = .milliseconds(Int64(self.rolloutTick * 1000))
        configuration.requestLimits.maxInstancesPerComponent = self.maxInstancesPerComponent
        configuration.requestLimits.evictDisconnectedAfterMilliseconds = Int64(self.instanceEvictionAfter * 1000)
        configuration.requestLimits.maxChangesPerSet = self.maxChangesPerSet
        configuration.requestLimits.maxReasonOctets = self.maxReasonLength
        configuration.requestLimits.maxLabels = self.maxLabels

        let server = GatehouseServer(configuration: configuration, logger: logger) { listening in
            var lines = "listening on \(listening.address.hostPort)\n"
            if let metricsAddress = listening.metricsAddress {
                lines += "metrics on \(metricsAddress.hostPort)\n"
            }
            if let adminConfig = listening.adminConfig {
                lines += "admin config: \(adminConfig)\n"
            }
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// `--store`: which backend keeps the gate state.
enum StoreKind: String, ExpressibleByArgument, CaseIterable {
    case sqlite, etcd
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension TimeAmount {
    /// Fractional seconds, as the command line takes them.
    static func seconds(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(seconds * 1_000_000_000))
    }
}
