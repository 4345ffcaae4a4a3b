import ArgumentParser
import GatehouseClient
import GatehouseCore
import GatehouseWire

/// `gatectl apis get API`: one API's definition and every override that selects it.
struct ApisGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show one API and every override that selects it (by itself, its stage or api/all).",
        discussion: """
            Exits 66 when no such API is defined.

            Examples:
              gatectl apis get batch/v1beta1
              gatectl apis get apps/v1/deployments
              gatectl apis get v1 -o yaml
            """
    )

    @Argument(help: "group/version or group/version/resource, e.g. batch/v1beta1; the core group is v1.")
    var api: String

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        do {
            _ = try APIRef(parsing: self.api)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        try await ExitStatus.run {
            let ref = try APIRef(parsing: self.api).wire
            let response = try await self.global.withClient { try await $0.getAPI(ref) }
            try Printer.print(response, as: self.global.output) { Self.table(response) }
        }
    }

    static func table(_ response: Gatehouse_V1_GetApiResponse) -> String {
        let api = response.api
        var sections = [
            Printer.table(
                header: ["API", "STAGE", "DEFAULT", "COMPONENTS", "REVISION"],
                rows: [[Format.api(api), Format.stage(api.stage), Format.enabled(api.defaultEnabled), Format.components(api.components), "\(api.revision)"]]
            )
        ]
        if !api.description_p.isEmpty { sections.append("Description: \(api.description_p)\n") }
        sections.append(Format.table(
            header: ["SELECTOR", "SCOPE", "ENABLED", "REVISION", "ACTOR", "REASON"],
            rows: response.overrides.map { override in
                let selector: String
                switch override.target {
                case .api(let value): selector = Format.selector(value)
                case .feature(let name): selector = name
                case nil: selector = "-"
                }
                return [
                    selector,
                    Format.scope(override.scope),
                    Format.enabled(override.enabledPresent.map { switch $0 { case .enabled(let value): value } }),
                    "\(override.revision)",
                    override.actor,
                    override.reason,
                ]
            },
            empty: "No overrides select \(Format.api(api)): it is at its stage default everywhere."
        ))
        return sections.joined(separator: "\n")
    }
}
