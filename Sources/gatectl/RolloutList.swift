import ArgumentParser
import GatehouseClient

/// `gatectl rollout list`: rollouts, newest first.
struct RolloutList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List rollouts, newest first: target, component, phase and current step.",
        discussion: """
            Examples:
              gatectl rollout list
              gatectl rollout list --component kubelet --active
              gatectl rollout list --feature InPlacePodVerticalScaling -o json | jq -r '.rollouts[].spec.name'
            """
    )

    @Option(name: .long, help: ArgumentHelp("Only rollouts on this component.", valueName: "name"))
    var component: String?

    @Option(name: .long, help: ArgumentHelp("Only rollouts of this feature.", valueName: "name"))
    var feature: String?

    @Flag(name: .long, help: "Only running and paused rollouts.")
    var active = false

    @OptionGroup var global: GlobalOptions

    var request: Gatehouse_V1_ListRolloutsRequest {
        .with {
            $0.component = self.component ?? ""
            $0.feature = self.feature ?? ""
            $0.activeOnly = self.active
        }
    }

    func run() async throws {
        try await ExitStatus.run {
            let response = try await self.global.withClient { try await $0.listRollouts(self.request) }
            try Printer.print(response, as: self.global.output) { RolloutView.table(response) }
        }
    }
}
