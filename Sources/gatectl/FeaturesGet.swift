import ArgumentParser
import GatehouseClient
import GatehouseCore

/// `gatectl features get NAME`: one feature's definition and every override set on it.
struct FeaturesGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show one feature: its definition, parameters, and the overrides set on it.",
        discussion: """
            Exits 66 when no feature has that name (names are case-sensitive).

            Examples:
              gatectl features get InPlacePodVerticalScaling
              gatectl features get SchedulerQueueingHints -o yaml
            """
    )

    @Argument(help: "The feature's name, e.g. InPlacePodVerticalScaling.", completion: Completions.features)
    var name: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let response = try await self.global.withClient { try await $0.getFeature(named: self.name) }
            try Printer.print(response, as: self.global.output) { Self.table(response) }
        }
    }

    static func table(_ response: Gatehouse_V1_GetFeatureResponse) -> String {
        let feature = response.feature
        var sections = [
            Printer.table(
                header: ["NAME", "STAGE", "DEFAULT", "LOCKED", "COMPONENTS", "REVISION"],
                rows: [[
                    feature.name,
                    Format.stage(feature.stage),
                    Format.enabled(feature.defaultEnabled),
                    feature.lockedToDefault ? "locked" : "-",
                    Format.components(feature.components),
                    "\(feature.revision)",
                ]]
            )
        ]
        var facts: [String] = []
        if !feature.description_p.isEmpty { facts.append("Description:  \(ControlCharacters.escaped(feature.description_p))") }
        if !feature.dependencies.isEmpty { facts.append("Needs:        \(feature.dependencies.joined(separator: ", "))") }
        if !feature.minComponentVersions.isEmpty {
            let versions = feature.minComponentVersions.sorted { $0.key < $1.key }.map { "\($0.key) >= \($0.value)" }
            facts.append("Min versions: \(versions.joined(separator: ", "))")
        }
        facts.append("Known by:     \(response.knownBy.isEmpty ? "no registered build yet" : response.knownBy.joined(separator: ", "))")
        if !facts.isEmpty { sections.append(facts.joined(separator: "\n") + "\n") }
        if !feature.parameters.isEmpty {
            sections.append(Printer.table(
                header: ["PARAMETER", "TYPE", "ALLOWED", "DEFAULT"],
                rows: feature.parameters.map { spec in
                    let (type, constraint, defaultValue) = Format.spec(spec)
                    return [spec.name, type, constraint, defaultValue]
                }
            ))
        }
        sections.append(Format.table(
            header: ["SCOPE", "ENABLED", "PARAMS", "REVISION", "ACTOR", "REASON"],
            rows: response.overrides.map { override in
                [
                    Format.scope(override.scope),
                    Format.enabled(override.enabledPresent.map { switch $0 { case .enabled(let value): value } }),
                    Format.params(override.params),
                    "\(override.revision)",
                    override.actor,
                    override.reason,
                ]
            },
            empty: "No overrides: \(feature.name) is at its default everywhere (unless a rollout assigns it)."
        ))
        return sections.joined(separator: "\n")
    }
}
