// An example component: boots with GatehouseSDK as a kubelet would, and
// prints every change of its feature gates and APIs as it is pushed.
//
//   swift run example-component --config gatehouse-data/admin.conf \
//       --component kubelet --instance node-1 --state-file /tmp/node-1.json
import ArgumentParser
import Foundation
import GatehouseClient
import GatehouseSDK
import Logging
import ServiceLifecycle

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
            identity: .init(component: self.component, instanceID: self.instance, version: self.version),
            features: Self.knownFeatures(),
            apis: try Self.knownAPIs(),
            lastKnownGoodPath: self.stateFile,
            bootDeadline: .milliseconds(Int64(self.bootDeadline * 1000)),
            offlineTTL: .milliseconds(Int64(self.offlineTTL * 1000)),
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
