import Foundation
import GatehouseCore
import GatehouseRPC
import GatehouseStore
import GatehouseTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Gatehouse server as a `Service`: binds, serves until a graceful
/// shutdown is requested (SIGTERM/SIGINT through a `ServiceGroup`), then
/// drains: GOAWAY, in-flight calls finish, connections close.
public final class GatehouseServer: Service, Sendable {
    /// What a caller learns once the server listens.
    public struct Listening: Sendable {
        public var address: SocketAddress
        /// The development admin's client config, when the development PKI is in use.
        public var adminConfig: String?
        /// Where `/metrics`, `/healthz` and `/readyz` answer, when the operations listener is on.
        public var metricsAddress: SocketAddress?
    }

    let configuration: GatehouseServerConfiguration
    let logger: Logger
    private let onListening: @Sendable (Listening) -> Void
    let group: any EventLoopGroup
    public let health = HealthService()
    /// Starting, serving or draining, for `/readyz`.
    let readiness = ServerReadiness()
    /// The server's own metrics registry (see ``MetricsBackend``).
    let metricsBackend: MetricsBackend
    /// Commit, fan-out, NACK and rollout metrics, recorded by the services.
    let metrics: ServerMetrics
    /// The gauges set at scrape time from the server's state.
    let sampler: ScrapeSampler

    public init(
        configuration: GatehouseServerConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: @escaping @Sendable (Listening) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onListening = onListening
        self.metricsBackend = MetricsBackend(enabled: configuration.metricsListener != nil)
        self.metrics = ServerMetrics(factory: self.metricsBackend.factory)
        self.sampler = ScrapeSampler(factory: self.metricsBackend.factory, sources: .init())
    }

    public func run() async throws {
        // First, so probes answer while the store opens: alive, not ready.
        let probes = try await self.startProbes()
        do {
            let data = DataDirectory(self.configuration.dataDirectory)
            try data.prepare()
            switch self.configuration.store {
            case .sqlite:
                // The store's lock first: a second server on a directory in use must stop
                // before it writes anything there (admin.conf, certificates, the policy).
                let store = try self.openStore(data)
                let peers = Peers.alone(
                    keepingInstancesIn: store,
                    retention: self.configuration.instanceRetention,
                    flushInterval: self.configuration.instanceFlushInterval,
                    logger: self.logger
                )
                try await self.serving(store, peers: peers, metricsAddress: probes?.1)
            case .etcd(let settings):
                // No database here: the directory itself is locked, before anything is written in it.
                let lock = try DirectoryLock(data.path)
                try await self.runOverEtcd(settings, metricsAddress: probes?.1)
                withExtendedLifetime(lock) {}
            }
        } catch {
            await probes?.0.close()
            throw error
        }
        await probes?.0.close()
    }

    /// Serves over `store` and closes it, whether serving ends normally or throws.
    ///
    /// Generic rather than over `any GateStore`: each backend gets its own
    /// specialisation of everything that submits, as the SQLite path had before there were two.
    func serving<Store: GateStore<GateState>>(_ store: Store, peers: Peers, metricsAddress: SocketAddress?) async throws {
        do {
            try await self.serve(store, peers: peers, metricsAddress: metricsAddress)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// Everything after the store is open: certificates, policy, services, listen, serve, drain.
    private func serve<Store: GateStore<GateState>>(_ store: Store, peers: Peers, metricsAddress: SocketAddress?) async throws {
        var adminConfig: String?
        let files: GatehouseServerConfiguration.TLSFiles
        let pki = DevelopmentPKI(dataDirectory: self.configuration.dataDirectory)
        if let configured = self.configuration.tls {
            files = configured
        } else {
            try pki.ensure(host: self.configuration.host, logger: self.logger)
            files = pki.serverFiles
            adminConfig = pki.adminConfig
        }
        let tls = try TLSContext.server(self.configuration.tlsConfiguration(files))
        let authorizer = Authorizer(policy: try self.loadPolicy(development: adminConfig != nil))

        let methods = NIOLockedValueBox<[RPCMethodDescriptor]>([])
        let info = ServerInfoService(
            version: GatehouseVersion.current,
            limits: self.configuration.limits,
            heartbeatInterval: self.configuration.heartbeatInterval,
            startedAtUnixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000),
            serverID: peers.serverID,
            methods: { methods.withLockedValue { $0 } }
        )
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        // Read once: the history is cut at this revision, and other servers' commits after it reach the hub through `peers`.
        let initial = store.snapshot.state
        let hub = SubscriptionHub(
            initial: initial,
            history: try await self.retainedHistory(store, upTo: initial.revision),
            configuration: .init(
                historyLimit: self.configuration.subscriptionHistory,
                queue: .init(queueLimit: self.configuration.subscriberQueue, cutoffAfter: self.configuration.subscriberCutoff),
                heartbeatInterval: self.configuration.heartbeatInterval
            ),
            logger: self.logger,
            now: now
        )
        peers.foreignCommits?.attach(after: initial.revision, publish: hub.publish(_:endsGroup:))
        let limits = self.configuration.requestLimitsInEffect
        let registry = InstanceRegistry(
            now: now,
            capacity: .init(maxPerComponent: limits.maxInstancesPerComponent, evictAfterMilliseconds: limits.evictDisconnectedAfterMilliseconds),
            server: peers.serverID,
            persisted: peers.persistsInstances
        )
        let gates = GateService(
            store: store, authorizer: authorizer, liveReplicas: registry.liveReplicas, registeredInstance: registry.registered(component:instanceID:),
            now: now, limits: limits, metrics: self.metrics, committed: hub.publish(_:endsGroup:)
        )
        self.sampler.update { sources in
            sources.state = { store.snapshot.state }
            sources.subscribers = { hub.subscriberCount }
            sources.registeredComponents = { Set(registry.list().map(\.key.component)) }
        }
        let components = ComponentService(hub: hub, registry: registry, authorizer: authorizer, gates: gates, limits: limits)
        let driver = RolloutDriver(
            gates: gates,
            registry: registry,
            hub: hub,
            serverStartedAt: UnixMilliseconds(now()),
            tickInterval: self.configuration.rolloutTickInterval,
            logger: self.logger
        )
        let rollouts = RolloutService(gates: gates, driver: driver, authorizer: authorizer)
        let activations = ApiActivations(gates: gates, hub: hub, acks: components.prepareAcks, authorizer: authorizer, now: now)
        let open = (info.methodsToRegister + self.health.methods).map { authorizer.guarding($0, with: .anyRole) }
        let router = RPCRouter(open + gates.methods + components.methods + rollouts.methods + activations.methods)
        methods.withLockedValue { $0 = router.descriptors }

        let server = RPCServer(
            configuration: .init(
                host: self.configuration.host,
                port: self.configuration.port,
                tls: tls,
                limits: self.configuration.limits,
                router: router,
                // The reserved connections are for the people who act in an incident.
                isPrivileged: { authorizer.policy.roles(of: $0).contains { $0 == .admin || $0 == .operator } },
                metrics: RPCServerMetrics(factory: self.metricsBackend.factory, methods: router.descriptors.map(\.path))
            ),
            group: self.group,
            logger: self.logger
        )
        let address = try await server.start()
        self.sampler.update { sources in
            sources.connections = {
                let counts = server.connectionCounts
                return (counts.handshaking, counts.authenticated)
            }
        }
        if adminConfig != nil {
            // Written once bound, so it names the port actually bound (port 0 picks one);
            // a restart on the same address leaves it untouched.
            do {
                if try pki.writeAdminConfig(host: self.configuration.host, port: address.port ?? self.configuration.port) {
                    self.logger.info("wrote the admin client config", metadata: ["path": "\(pki.adminConfig)"])
                }
            } catch {
                await server.close()
                throw error
            }
        }
        // Joined before "listening on" is announced: by then other servers see this one's instances and it may lead.
        let membership: Membership
        do {
            membership = try await peers.join(address.hostPort, registry)
        } catch {
            await server.close()
            throw error
        }
        if let storeCheck = peers.storeCheck { self.readiness.checkStore(with: storeCheck) }
        self.readiness.moved(to: .serving)
        self.onListening(Listening(address: address, adminConfig: adminConfig, metricsAddress: metricsAddress))

        // Serve until asked to stop; cancellation (a second signal) skips the grace period.
        let pushing = Task { await hub.run() }
        // Resumes every running rollout from its stored record (step, threshold, absolute bake deadline),
        // while this server leads: always over SQLite, while it holds the election over etcd.
        let driving = Task { await driver.run(leadership: membership.leadership) }
        let sharing = Task { await membership.run() }
        do {
            try await gracefulShutdown()
            self.readiness.moved(to: .draining)
            self.health.setStatus(.notServing)
            hub.close()
            await server.drain()
        } catch {
            self.readiness.moved(to: .draining)
            hub.close()
            await server.close()
        }
        // Stopped before the store closes: a transition it is committing finishes first.
        driving.cancel()
        await driving.value
        sharing.cancel()
        await sharing.value
        await membership.leave()
        pushing.cancel()
    }

    /// The tail of the audit log as batches, so subscribers resume across a restart.
    ///
    /// Only up to `revision`, the state the hub starts from: with etcd, other
    /// servers may have committed since that state was read, and those batches
    /// reach the hub as they are watched, not twice.
    private func retainedHistory<Store: GateStore<GateState>>(_ store: Store, upTo revision: Revision) async throws -> [BatchSummary] {
        let limit = self.configuration.subscriptionHistory
        guard limit > 0, revision > .zero else { return [] }
        let records = try await store.history(AuditQuery(revisions: Revision(1)...revision, limit: limit))
        do {
            return try records.reversed().map(GateRecords.summary(from:))
        } catch {
            // Resuming subscribers then get a fresh snapshot instead: degraded, not broken.
            self.logger.error("cannot read the audit log back for subscriptions; resumes will get snapshots", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// Opens (or creates) the durable store, which locks the data directory, and loads the state from it.
    private func openStore(_ data: DataDirectory) throws -> SQLiteGateStore<GateState> {
        let path = data.database
        let store: SQLiteGateStore<GateState>
        do {
            store = try SQLiteGateStore<GateState>(path: path, logger: self.logger) { loaded in
                try GateRecords.state(from: loaded)
            }
        } catch StoreError.alreadyOpen {
            throw DataDirectoryError.inUse(directory: data.path, lockedPath: path)
        } catch let error as StoreError {
            guard case .damaged = error else { throw error }
            throw DataDirectoryError.damaged(directory: data.path, error)
        }
        let state = store.snapshot.state
        self.logger.info(
            "state loaded",
            metadata: ["path": "\(path)", "revision": "\(state.revision)", "features": "\(state.features.count)", "apis": "\(state.apis.count)"]
        )
        return store
    }

    /// Reads the access policy; a development server writes its default one first.
    private func loadPolicy(development: Bool) throws -> AccessPolicy {
        let path = self.configuration.policyPath ?? URL(fileURLWithPath: self.configuration.dataDirectory).appendingPathComponent("policy.yaml").path
        if !FileManager.default.fileExists(atPath: path) {
            guard development, self.configuration.policyPath == nil else {
                throw PolicyError("no access policy at \(path): every call would be refused. Write one (see `gatehouse serve --help`) or pass --policy")
            }
            try PrivateFile.write(try AccessPolicy.development.yaml(), to: path, mode: 0o600)
            self.logger.info("wrote the development access policy", metadata: ["path": "\(path)"])
        }
        let policy = try AccessPolicy.parse(yaml: try String(contentsOfFile: path, encoding: .utf8), source: path)
        self.logger.info("access policy loaded", metadata: ["path": "\(path)", "bindings": "\(policy.bindings.count)"])
        return policy
    }
}
