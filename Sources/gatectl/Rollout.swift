import ArgumentParser

/// `gatectl rollout`: staged (canary) rollouts of one feature or API on a component.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Roll a feature or API out to a component's instances step by step, watching their health.",
        discussion: """
            A rollout sets one feature (or API) to one value on a growing share of a
            component's instances. Which instances are canaries is decided by a hash of
            the rollout's name and the instance id, so it is sticky: an instance that is
            a canary at 1% is still one at 10%. The server widens to the next step once
            every canary of the step applied the change, stayed healthy, and the bake
            time passed; it rolls back on its own when more canaries than --max-unhealthy
            NACK the change, report unhealthy, or stay disconnected past the grace.

            Examples:
              gatectl rollout start InPlacePodVerticalScaling --component kubelet \\
                  --steps 1%,10%,50%,100% --bake 5m --reason "canary IPPVS"
              gatectl rollout status r42 --watch
              gatectl rollout list --active
              gatectl rollout pause r42 --reason "investigating node-7"
              gatectl rollout abort r42 --reason "latency regression"
            """,
        subcommands: [
            RolloutStart.self,
            RolloutList.self,
            RolloutStatus.self,
            RolloutPause.self,
            RolloutResume.self,
            RolloutPromote.self,
            RolloutAbort.self,
        ]
    )
}
