import ArgumentParser
import Foundation
import GatehouseClient

/// `gatectl catalog import FILE`: defines every feature and API of a catalog in one batch.
struct CatalogImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Create or replace every feature and API of a catalog file, as one batch (admin only).",
        discussion: """
            The file is YAML with `features:` and `apis:` lists, in the format of
            Examples/kubernetes-catalog.yaml. The server validates the whole catalog
            (names, stages, dependencies, parameter defaults) and commits it at one
            revision, or refuses it whole (exit 65). Overrides already set are kept.

            Examples:
              gatectl catalog import Examples/kubernetes-catalog.yaml
              gatectl catalog import catalog.yaml --reason "Kubernetes 1.32" \\
                  --expected-revision 12
              generate-catalog | gatectl catalog import -
            """
    )

    @Argument(help: "The catalog file, or - for standard input.")
    var file: String

    @Option(name: .long, help: "Why, recorded in the audit trail (default: catalog import).")
    var reason: String?

    @Option(name: .long, help: ArgumentHelp("Commit only if the server is still at this revision (else refused, exit 65).", valueName: "n"))
    var expectedRevision: UInt64?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await ExitStatus.run {
            let yaml = try InputFile.read(self.file, as: "the catalog file")
            let request = Gatehouse_V1_ImportCatalogRequest.with { request in
                request.yaml = yaml
                request.reason = self.reason ?? ""
                if let expectedRevision = self.expectedRevision { request.expectedRevision = expectedRevision }
            }
            let response = try await self.global.withClient { try await $0.importCatalog(request) }
            try Printer.print(response, as: self.global.output) {
                "imported \(response.features) features and \(response.apis) APIs from \(self.file) at revision \(response.revision)\n"
            }
        }
    }

}
