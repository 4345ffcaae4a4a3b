import ArgumentParser
import GatehouseClient

/// `gatectl features list`: feature definitions, optionally filtered.
struct FeaturesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List feature gates: stage, default, lock and the components they apply to.",
        discussion: """
            Examples:
              gatectl features list
              gatectl features list --component kubelet --stage alpha
              gatectl features list --prefix Pod -o json | jq -r '.features[].name'
            """
    )

    @Option(name: .long, help: "Only features that apply to this component.", completion: Completions.components)
    var component: String?

    @Option(name: .long, help: "Only features at this stage: alpha, beta, ga or deprecated.")
    var stage: StageArgument?

    @Option(name: .long, help: "Only features whose name starts with this.")
    var prefix: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let request = Gatehouse_V1_ListFeaturesRequest.with { request in
                request.component = self.component ?? ""
                if let stage = self.stage { request.stage = stage.wire }
                request.namePrefix = self.prefix ?? ""
            }
            let response = try await self.global.withClient { try await $0.listFeatures(request) }
            try Printer.print(response, as: self.global.output) { Self.table(response, wide: self.global.output == .wide) }
        }
    }

    /// - Parameter wide: `-o wide` adds what the definition needs (DEPENDS ON), takes
    ///   (PARAMETERS), the skew guard's MIN VERSIONS and the REVISION that last changed it.
    static func table(_ response: Gatehouse_V1_ListFeaturesResponse, wide: Bool = false) -> String {
        var header = ["NAME", "STAGE", "DEFAULT", "LOCKED", "COMPONENTS"]
        if wide { header += ["DEPENDS ON", "PARAMETERS", "MIN VERSIONS", "REVISION"] }
        return Format.table(
            header: header,
            rows: response.features.map { feature in
                var row = [
                    feature.name,
                    Format.stage(feature.stage),
                    Format.enabled(feature.defaultEnabled),
                    feature.lockedToDefault ? "locked" : "-",
                    Format.components(feature.components),
                ]
                if wide {
                    row += [
                        feature.dependencies.isEmpty ? "-" : feature.dependencies.joined(separator: ","),
                        feature.parameters.isEmpty ? "-" : feature.parameters.map(\.name).joined(separator: ","),
                        feature.minComponentVersions.isEmpty
                            ? "-" : feature.minComponentVersions.sorted { $0.key < $1.key }.map { "\($0.key)>=\($0.value)" }.joined(separator: ","),
                        "r\(feature.revision)",
                    ]
                }
                return row
            },
            empty: "no features match (revision \(response.revision)); `gatectl catalog import FILE` defines them"
        )
    }
}
