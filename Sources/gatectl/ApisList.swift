import ArgumentParser
import GatehouseClient

/// `gatectl apis list`: API definitions, optionally filtered.
struct ApisList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List APIs: stage, default (from the stage) and the components that serve them.",
        discussion: """
            Examples:
              gatectl apis list
              gatectl apis list --group batch
              gatectl apis list --component kube-apiserver --stage deprecated -o json
            """
    )

    @Option(name: .long, help: "Only APIs served by this component.")
    var component: String?

    @Option(name: .long, help: "Only APIs at this stage: alpha, beta, ga or deprecated.")
    var stage: StageArgument?

    @Option(name: .long, help: "Only APIs of this group, e.g. batch (the core group: use `apis get v1`).")
    var group: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let request = Gatehouse_V1_ListApisRequest.with { request in
                request.component = self.component ?? ""
                if let stage = self.stage { request.stage = stage.wire }
                request.group = self.group ?? ""
            }
            let response = try await self.global.withClient { try await $0.listAPIs(request) }
            try Printer.print(response, as: self.global.output) { Self.table(response) }
        }
    }

    static func table(_ response: Gatehouse_V1_ListApisResponse) -> String {
        Format.table(
            header: ["API", "STAGE", "DEFAULT", "COMPONENTS"],
            rows: response.apis.map { api in
                [Format.api(api), Format.stage(api.stage), Format.enabled(api.defaultEnabled), Format.components(api.components)]
            },
            empty: "no APIs match (revision \(response.revision)); `gatectl catalog import FILE` defines them"
        )
    }
}
