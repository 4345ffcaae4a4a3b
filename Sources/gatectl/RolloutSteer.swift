import ArgumentParser
import GatehouseClient

/// What pause, resume, promote and abort share: the rollout and why.
struct RolloutActionOptions: ParsableArguments {
    @Argument(help: "The rollout's name, e.g. r42.")
    var name: String

    @Option(name: .long, help: "Why, recorded in the audit trail (required).")
    var reason: String

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try ReasonArgument.validate(self.reason)
    }

    /// Sends the action and prints the rollout after it.
    func perform(_ action: GatehouseClient.RolloutAction) async throws {
        try await ExitStatus.run {
            let response = try await self.global.withClient {
                try await $0.steerRollout(action, named: self.name, reason: self.reason)
            }
            try Printer.print(response, as: self.global.output) { RolloutView.action(response) }
        }
    }
}

/// `gatectl rollout pause NAME`.
struct RolloutPause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Hold a running rollout at its step; the bake clock stops until it is resumed.",
        discussion: """
            Canaries keep the change; nothing widens. A finished or already paused rollout
            is refused (exit 65, ROLLOUT_STATE naming its phase).

            Examples:
              gatectl rollout pause r42 --reason "investigating node-7 latency"
              gatectl rollout pause r42 --reason "freeze" -o json | jq .rollout.bakeRemainingMs
            """
    )

    @OptionGroup var options: RolloutActionOptions

    func run() async throws { try await self.options.perform(.pause) }
}

/// `gatectl rollout resume NAME`.
struct RolloutResume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a paused rollout with the bake time it had left.",
        discussion: """
            Examples:
              gatectl rollout resume r42 --reason "node-7 was a hardware fault"
              gatectl rollout resume r42 --reason "after the freeze" && gatectl rollout status r42 --watch
            """
    )

    @OptionGroup var options: RolloutActionOptions

    func run() async throws { try await self.options.perform(.resume) }
}

/// `gatectl rollout promote NAME`.
struct RolloutPromote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Skip the remaining steps: in effect on the whole selection at once, completed.",
        discussion: """
            A completed rollout stays in effect. To make it permanent, set the value as an
            override (gatectl enable FEATURE --component C ...) and then abort the rollout.

            Examples:
              gatectl rollout promote r42 --reason "healthy for a week on 50%"
              gatectl enable InPlacePodVerticalScaling --component kubelet --reason "permanent"
              gatectl rollout abort r42 --reason "made permanent by an override"
            """
    )

    @OptionGroup var options: RolloutActionOptions

    func run() async throws { try await self.options.perform(.promote) }
}

/// `gatectl rollout abort NAME`.
struct RolloutAbort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abort",
        abstract: "Roll back: every canary returns to the state it had before the rollout.",
        discussion: """
            Works on running, paused and completed rollouts; the rollback is pushed to
            every canary as one revision.

            Examples:
              gatectl rollout abort r42 --reason "p99 latency up 40% on canaries"
              gatectl rollout list --active -o json | jq -r '.rollouts[].spec.name' |
                  xargs -n1 gatectl rollout abort --reason "incident 1234"
            """
    )

    @OptionGroup var options: RolloutActionOptions

    func run() async throws { try await self.options.perform(.abort) }
}
