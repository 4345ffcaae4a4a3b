import ArgumentParser
import GatehouseClient

/// `gatectl rollout start`: begins a staged rollout at its first step.
struct RolloutStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a rollout of a feature (or --api) on a component, in steps.",
        discussion: """
            --steps lists the step sizes in order: a share of the selected instances
            (10%) or a number of them (5); sizes never shrink, and the last step is
            usually 100%. Every step bakes for --bake once all its canaries applied
            the change, and tolerates --max-unhealthy unhealthy canaries before the
            rollout rolls back. --label and --min-version narrow the selection.

            The server refuses (exit 65) a locked feature, unmet dependencies, an
            override that would mask the rollout (the refusal names it and how to
            remove it), another rollout of the same target on the component, or a bad
            spec; an unknown feature or API exits 66, a taken name 65. --dry-run runs
            every one of those checks and starts nothing.

            Examples:
              gatectl rollout start InPlacePodVerticalScaling --component kubelet \\
                  --steps 1%,10%,50%,100% --bake 5m --reason "canary IPPVS"
              gatectl rollout start --api batch/v1beta1 --component kube-apiserver \\
                  --steps 1,2,100% --bake 10m --max-unhealthy 1 --reason "serve v1beta1"
              gatectl rollout start GracefulNodeShutdown --component kubelet \\
                  --param shutdown_grace_period=45s --label zone=eu-west-1a \\
                  --min-version 1.31.0 --steps 5%,100% --bake 30m --name gns-euw1 \\
                  --reason "longer drains in one zone" --dry-run
              gatectl rollout start LegacyNodeRoleBehavior --disable --component kubelet \\
                  --steps 10%,100% --bake 1h --reason "retire legacy roles"
            """
    )

    @Argument(help: "The feature's name (or use --api).", completion: Completions.features)
    var feature: String?

    @Option(name: .long, help: ArgumentHelp("Roll out this API instead of a feature, e.g. batch/v1beta1.", valueName: "group/version"))
    var api: String?

    @Option(name: .long, help: ArgumentHelp("The component whose instances it covers (required).", valueName: "name"), completion: Completions.components)
    var component: String

    @Flag(name: .long, help: "Roll out turning it off (default: on).")
    var disable = false

    @Option(
        name: .customLong("param"),
        help: ArgumentHelp("A parameter canaries get, typed by the feature's spec (repeatable).", valueName: "name=value")
    )
    var params: [String] = []

    @Option(name: .customLong("label"), help: ArgumentHelp("Only instances registered with this label (repeatable).", valueName: "key=value"))
    var labels: [String] = []

    @Option(name: .long, help: ArgumentHelp("Only instances at this version or newer.", valueName: "semver"))
    var minVersion: String?

    @Option(name: .long, help: ArgumentHelp("Step sizes in order: 1%,10%,50%,100% or counts like 1,5,50%.", valueName: "sizes"))
    var steps: String

    @Option(name: .long, help: ArgumentHelp("How long each step must stay healthy before the next: 30s, 5m, 1h.", valueName: "duration"))
    var bake = "5m"

    @Option(name: .long, help: ArgumentHelp("Unhealthy canaries each step tolerates before rolling back.", valueName: "n"))
    var maxUnhealthy: UInt32 = 0

    @Option(name: .long, help: ArgumentHelp("How long a canary may be disconnected before it counts as unhealthy (default: the server's, 30s).", valueName: "duration"))
    var disconnectGrace: String?

    @Option(name: .long, help: ArgumentHelp("The rollout's name (default: r<revision>).", valueName: "name"))
    var name: String?

    @Option(name: .long, help: "Why, recorded in the audit trail (required).")
    var reason: String

    @Flag(name: .long, help: "Run every check and show the rollout, but start nothing.")
    var dryRun = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        _ = try self.request()
        if !self.params.isEmpty, self.api != nil {
            throw ValidationError("--param applies to features only; APIs have no parameters")
        }
        for param in self.params { _ = try ParameterArguments.split(param) }
    }

    /// The Start request, without parameters (they need the feature's spec); usage errors for bad text.
    func request() throws -> Gatehouse_V1_StartRolloutRequest {
        try ReasonArgument.validate(self.reason)
        let bakeMs = try RolloutArguments.durationMs(self.bake, option: "--bake")
        let spec = try Gatehouse_V1_RolloutSpec.with { spec in
            spec.name = self.name ?? ""
            spec.target = try RolloutArguments.target(feature: self.feature, api: self.api)
            spec.enabled = !self.disable
            spec.component = self.component
            spec.labels = try RolloutArguments.labels(self.labels)
            spec.minVersion = self.minVersion ?? ""
            spec.steps = try RolloutArguments.steps(self.steps, bakeMs: bakeMs, maxUnhealthy: self.maxUnhealthy)
            if let grace = self.disconnectGrace {
                spec.disconnectGraceMs = try RolloutArguments.durationMs(grace, option: "--disconnect-grace")
            }
        }
        return .with {
            $0.spec = spec
            $0.reason = self.reason
            $0.dryRun = self.dryRun
        }
    }

    func run() async throws {
        try await ExitStatus.run {
            var request = try self.request()
            let response = try await self.global.withClient { client in
                if let feature = self.feature, !self.params.isEmpty {
                    let definition = try await client.featureDefinition(named: feature)
                    request.spec.params = try ParameterArguments.values(self.params, for: definition)
                }
                return try await client.startRollout(request)
            }
            try Printer.print(response, as: self.global.output) { RolloutView.started(response, dryRun: self.dryRun) }
        }
    }
}
