import Atomics
import Foundation
import GatehouseProto
import Logging
import Synchronization

/// A component's link to Gatehouse: boot, subscribe, and read feature gates without a lock.
///
/// It registers the instance and what its binary knows, subscribes to the
/// instance's effective state, applies every pushed snapshot and delta (the
/// handler first, then an ack, or a NACK when the handler throws) and
/// reconnects with backoff and jitter, failing over across endpoints and
/// resuming from the last applied revision. Reads are one atomic load of an
/// immutable `StateSnapshot`.
///
/// With no server it still boots: after `bootDeadline` it runs on the
/// last-known-good file (the state it applied last, saved atomically after
/// every revision) or on its compiled-in defaults, reports that it is stale,
/// and catches up once a server answers. Offline for longer than
/// `offlineTTL`, alpha features and APIs read disabled (see `OfflinePolicy`).
///
/// The application's health (a `Configuration.healthCheck` polled on a
/// schedule, or `reportHealth(_:)`) travels on the subscription, so a canary
/// rollout can widen or roll back on it (see `HealthSchedule` for when).
///
/// ```swift
/// let component = GatehouseComponent(configuration: .init(
///     endpoints: try Endpoint.parseList(["gatehouse-0:7443", "gatehouse-1:7443"]),
///     tls: .init(certificateChainPath: "kubelet.pem", privateKeyPath: "kubelet-key.pem", trustRootsPath: "ca.pem"),
///     identity: .init(component: "kubelet", instanceID: "node-17", version: "1.32.0"),
///     features: [KnownFeature("InPlacePodVerticalScaling", stage: .alpha, defaultEnabled: false)],
///     apis: [try KnownAPI("batch/v1beta1", stage: .beta)],
///     lastKnownGoodPath: "/var/lib/kubelet/gatehouse-state.json",
///     handler: { update in
///         for change in update.features { print(change.name, change.after?.enabled ?? false) }
///     }
/// ))
/// let services = ServiceGroup(services: [component], gracefulShutdownSignals: [.sigterm], logger: logger)
/// async let running: Void = services.run()
/// switch await component.waitForBoot() {
/// case .live(let revision): logger.info("live at r\(revision)")
/// case .stale(let source): logger.warning("running stale on \(source)")
/// }
/// if component.isEnabled("InPlacePodVerticalScaling") { /* … */ }
/// try await running
/// ```
public final class GatehouseComponent: Sendable {
    public let configuration: Configuration
    /// Every change of the effective state, for the application to react to.
    public let changes: StateUpdates

    let defaults: CompiledDefaults
    let policy: OfflinePolicy
    let logger: Logger
    let clock: any ComponentClock
    let published: ManagedAtomic<StateSnapshot>
    /// Changed only under `lane`, so a copy taken under it stays current until written back.
    let core: Mutex<CoreState>
    let boot = Mutex<BootPhase>(.pending([]))
    let lane = AsyncSerialLock()
    let changesContinuation: AsyncStream<StateUpdate>.Continuation
    let connectivity: AsyncStream<Connectivity>
    let connectivityContinuation: AsyncStream<Connectivity>.Continuation
    let started = ManagedAtomic(false)
    /// The application's latest health and the subscriptions sending it.
    let healthBoard = Mutex(HealthBoard())
    /// Asks the health check to run now (after a server change applied) instead of at its next interval.
    let healthCheckRequests: AsyncStream<Void>
    let healthCheckRequester: AsyncStream<Void>.Continuation
    /// The application's answer to two-phase activation's Prepare (`onPrepare`).
    let prepareHandlers = Mutex(PrepareHandlers())
    /// When the component was created: the boot deadline and the first offline TTL count from here.
    let bootInstant: Duration

    /// Builds the component; reads the last-known-good file but does not connect (`run()` does).
    ///
    /// Until boot resolves, reads return the compiled-in defaults and `isStale` is true.
    public init(configuration: Configuration) {
        self.configuration = configuration
        self.logger = configuration.logger
        self.clock = configuration.clock
        self.bootInstant = configuration.clock.now()
        self.defaults = CompiledDefaults(features: configuration.features, apis: configuration.apis)
        self.policy = configuration.offlinePolicy
        let fallback = BootFallback.load(
            path: configuration.lastKnownGoodPath,
            component: configuration.identity.component,
            hints: self.defaults.stageHints,
            logger: configuration.logger
        )
        let initial = CoreState(cache: EffectiveCache(), origin: .compiledDefaults, fallback: fallback)
        self.core = Mutex(initial)
        self.published = ManagedAtomic(
            StateSnapshot(cache: initial.cache, defaults: self.defaults, origin: .compiledDefaults, isStale: true, failingClosed: false, policy: self.policy)
        )
        (self.changes, self.changesContinuation) = StateUpdates.make()
        (self.connectivity, self.connectivityContinuation) = AsyncStream<Connectivity>.makeStream()
        (self.healthCheckRequests, self.healthCheckRequester) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: - Reads: one atomic load, no lock

    /// The current state, to read several entries consistently.
    public var snapshot: StateSnapshot {
        self.published.load(ordering: .acquiring)
    }

    /// Whether `feature` is enabled for this instance; false when nobody defines it.
    public func isEnabled(_ feature: String) -> Bool {
        self.snapshot.isEnabled(feature)
    }

    /// Whether this instance serves `api` (`batch/v1beta1`, `apps/v1/deployments`, `v1`).
    public func isServed(_ api: String) -> Bool {
        self.snapshot.isServed(api)
    }

    /// The value of parameter `name` of `feature`; nil when unknown.
    public func parameter(_ name: String, of feature: String) -> ParameterValue? {
        self.snapshot.parameter(name, of: feature)
    }

    /// True while no server confirms the state: before boot and whenever disconnected.
    public var isStale: Bool {
        self.snapshot.isStale
    }

    // MARK: - Boot

    /// Waits until the component runs: on a server's state, or stale once the boot deadline has passed.
    ///
    /// Returns at once after boot; needs `run()` to be running (it returns stale when `run()` ends first).
    public func waitForBoot() async -> BootOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<BootOutcome, Never>) in
            let outcome = self.boot.withLock { phase -> BootOutcome? in
                switch phase {
                case .resolved(let outcome):
                    return outcome
                case .pending(var waiters):
                    waiters.append(continuation)
                    phase = .pending(waiters)
                    return nil
                }
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }

    /// How the component booted, or nil while it is still waiting for a server.
    public var bootOutcome: BootOutcome? {
        self.boot.withLock { phase in
            switch phase {
            case .resolved(let outcome): outcome
            case .pending: nil
            }
        }
    }

    func resolveBoot(_ outcome: BootOutcome) {
        let waiters = self.boot.withLock { phase -> [CheckedContinuation<BootOutcome, Never>] in
            switch phase {
            case .resolved:
                return []
            case .pending(let waiters):
                phase = .resolved(outcome)
                return waiters
            }
        }
        for waiter in waiters {
            waiter.resume(returning: outcome)
        }
    }
}

/// Where boot stands, with the callers waiting for it.
enum BootPhase {
    case pending([CheckedContinuation<BootOutcome, Never>])
    case resolved(BootOutcome)
}

/// Connectivity as the offline timer hears of it.
enum Connectivity: Sendable {
    /// Lost (or never had) a server at `since`; `generation` tells this outage from later ones.
    case offline(since: Duration, generation: UInt64)
    case online
}
