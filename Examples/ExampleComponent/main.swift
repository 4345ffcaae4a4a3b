// An example component: boots with GatehouseSDK as a kubelet would, and
// prints every change of its feature gates and APIs as it is pushed.
//
//   swift run example-component --config gatehouse-data/admin.conf \
//       --component kubelet --instance node-1 --state-file /tmp/node-1.json
//
// With --unhealthy-when-enabled FEATURE it reports itself unhealthy while that
// feature is on, so a canary rollout of FEATURE rolls back on it.
import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseSDK
import Logging
import ServiceLifecycle
import Synchronization

@main
struct ExampleComponent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "example-component",
        abstract: "Boot like a Kubernetes component with the Gatehouse SDK and print every pushed change.",
        discussion: """
            Connects to the Gatehouse servers with the certificates of a client config,
            registers the handful of Kubernetes feature gates and APIs it was "built"
            with, and prints each change. Without a server it boots after the deadline
            from --state-file (or its compiled-in defaults) and says it runs stale.
            Stop it with Ctrl-C or SIGTERM.

            With --unhealthy-when-enabled NAME it reports its health to the server,
            checked every --health-interval: unhealthy, blaming NAME, while the feature
            (or API, group/version) NAME is on for it, healthy otherwise; a canary
            rollout of NAME counts that. Without the flag it reports no health, and a
            rollout judges it on its acks alone. To watch a rollout roll back on its
            own, run a few instances with the flag and start one:

              swift run example-component --instance node-1 \\
                  --unhealthy-when-enabled InPlacePodVerticalScaling
              gatectl rollout start InPlacePodVerticalScaling --component kubelet \\
                  --steps 50%,100% --bake 1m --reason "try it"
              gatectl rollout status r5 --watch    # exits 2: rolled back
            """
    )

    @Option(help: "Client config (admin.conf-style YAML: server, ca, certificate, key); default: $GATEHOUSE_CONFIG, ~/.gatehouse/config, ./gatehouse-data/admin.conf.")
    var config: String?

    @Option(name: .customLong("endpoint"), help: "A server as host:port; repeat for failover. Default: the config's server.")
    var endpoints: [String] = []

    @Option(help: "Component name; the certificate must be allowed to act for it.")
    var component = "kubelet"

    @Option(help: "Instance id, stable across restarts. Default: the host name.")
    var instance = ProcessInfo.processInfo.hostName

    @Option(help: "The version this binary reports (semver).")
    var version = "1.32.0"

    @Option(help: "Last-known-good state file: written after every applied revision, read at boot.")
    var stateFile: String?

    @Option(help: "Seconds to wait for a server before booting stale.")
    var bootDeadline: Double = 5

    @Option(help: "Seconds offline before alpha features and APIs fail closed.")
    var offlineTTL: Double = 300

    @Option(help: "A label the instance registers with, key=value (repeatable); rollouts may select on labels.")
    var label: [String] = []

    @Option(help: ArgumentHelp("Report unhealthy, blaming it, while this feature (or API group/version) is on.", valueName: "name"))
    var unhealthyWhenEnabled: String?

    @Option(help: "Seconds between health checks.")
    var healthInterval: Double = 1

    @Flag(help: "Log the SDK's debug messages.")
    var verbose = false

    /// What this "binary" was built with: a few real Kubernetes gates and APIs.
    static func knownFeatures() -> [KnownFeature] {
        [
            KnownFeature("InPlacePodVerticalScaling", stage: .alpha, defaultEnabled: false),
            KnownFeature("SidecarContainers", stage: .beta, defaultEnabled: true),
            KnownFeature("PodReadyToStartContainersCondition", stage: .beta, defaultEnabled: true),
            KnownFeature("UserNamespacesSupport", stage: .beta, defaultEnabled: false),
            KnownFeature(
                "GracefulNodeShutdown", stage: .beta, defaultEnabled: true,
                defaultParameters: ["shutdown_grace_period": .durationMs(30_000)]
            ),
            KnownFeature("PodDisruptionConditions", stage: .ga, defaultEnabled: true, lockedToDefault: true),
        ]
    }

    static func knownAPIs() throws -> [KnownAPI] {
        [
            try KnownAPI("v1", stage: .ga),
            try KnownAPI("batch/v1", stage: .ga),
            try KnownAPI("batch/v1beta1", stage: .deprecated, defaultEnabled: false),
            try KnownAPI("storage.k8s.io/v1beta1", stage: .beta),
            try KnownAPI("resource.k8s.io/v1alpha3", stage: .alpha),
        ]
    }

    func validate() throws {
        guard self.healthInterval > 0 else { throw ValidationError("--health-interval must be positive") }
        _ = try self.labels()
    }

    func labels() throws -> [String: String] {
        try Dictionary(
            self.label.map { argument in
                let parts = argument.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--label expects key=value, got \"\(argument)\"") }
                return (String(parts[0]), String(parts[1]))
            },
            uniquingKeysWith: { _, last in last }
        )
    }

    /// The health check: unhealthy while `entry` (a feature, or an API when it holds a `/`) is on.
    ///
    /// Prints each change of verdict, so the output shows what the server was told.
    static func healthCheck(unhealthyWhenEnabled entry: String, every interval: Duration) -> GatehouseComponent.HealthCheck {
        let last = Mutex<HealthStatus?>(nil)
        return GatehouseComponent.HealthCheck(every: interval) { snapshot in
            let status: HealthStatus
            if entry.contains("/") ? snapshot.isServed(entry) : snapshot.isEnabled(entry) {
                status = .unhealthy("\(entry) is on, and this instance fails with it (--unhealthy-when-enabled)", blaming: [entry])
            } else {
                status = .healthy()
            }
            let changed = last.withLock { previous in
                defer { previous = status }
                return previous != status
            }
            if changed {
                print(status.isHealthy ? "health: healthy" : "health: UNHEALTHY: \(status.message)")
                fflush(nil)
            }
            return status
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = self.verbose ? .debug : .info
            return handler
        }
        let logger = Logger(label: "example-component")
        let clientConfig = try ClientConfigLoader.load(explicit: self.config)
        let endpoints = try Endpoint.parseList(self.endpoints.isEmpty ? [clientConfig.server] : self.endpoints)

        let component = GatehouseComponent(configuration: .init(
            endpoints: endpoints,
            tls: .init(clientConfig: clientConfig),
            identity: .init(component: self.component, instanceID: self.instance, version: self.version, labels: try self.labels()),
            features: Self.knownFeatures(),
            apis: try Self.knownAPIs(),
            lastKnownGoodPath: self.stateFile,
            bootDeadline: .milliseconds(Int64(self.bootDeadline * 1000)),
            offlineTTL: .milliseconds(Int64(self.offlineTTL * 1000)),
            healthCheck: self.unhealthyWhenEnabled.map { entry in
                Self.healthCheck(unhealthyWhenEnabled: entry, every: .milliseconds(Int64(self.healthInterval * 1000)))
            },
            logger: Logger(label: "gatehouse.sdk")
        ))
        let services = ServiceGroup(
            configuration: .init(services: [.init(service: component)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            group.addTask {
                switch await component.waitForBoot() {
                case .live(let revision):
                    print("booted live at r\(revision)")
                case .stale(.lastKnownGood(let revision, let savedAt)):
                    print("booted STALE from the last-known-good file: r\(revision), saved \(savedAt)")
                case .stale(.compiledDefaults(let reason)):
                    print("booted STALE on compiled-in defaults (\(reason))")
                }
                Self.printState(component.snapshot)
                fflush(nil)  // lines reach a pipe or file as they happen
            }
            group.addTask {
                for await update in component.changes {
                    Self.report(update)
                    fflush(nil)
                }
            }
            try await group.waitForAll()
        }
    }

    static func report(_ update: StateUpdate) {
        let source: String
        switch update.source {
        case .server: source = "server"
        case .offlinePolicy: source = update.snapshot.isFailingClosed ? "offline policy: failing closed" : "offline policy: lifted"
        case .boot: source = "boot"
        }
        print("r\(update.revision) (\(source))\(update.snapshot.isStale ? " [stale]" : "")")
        for change in update.features {
            print("  feature \(change.name): \(Self.describe(change.before)) -> \(Self.describe(change.after))")
        }
        for change in update.apis {
            print("  api \(change.api): \(Self.describe(change.before?.enabled)) -> \(Self.describe(change.after?.enabled))")
        }
    }

    static func printState(_ snapshot: StateSnapshot) {
        for (name, feature) in snapshot.features.sorted(by: { $0.key < $1.key }) {
            print("  \(name)=\(Self.describe(feature))")
        }
        for (api, state) in snapshot.apis.sorted(by: { $0.key < $1.key }) {
            print("  \(api)=\(state.enabled)")
        }
    }

    static func describe(_ feature: FeatureState?) -> String {
        guard let feature else { return "absent" }
        let parameters = feature.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return parameters.isEmpty ? "\(feature.enabled)" : "\(feature.enabled) {\(parameters.joined(separator: ", "))}"
    }

    static func describe(_ enabled: Bool?) -> String {
        enabled.map(String.init) ?? "absent"
    }
}
