import ArgumentParser

/// `gatectl catalog`: the definitions of features and APIs, in bulk.
struct Catalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Define features and APIs from a catalog file.",
        discussion: """
            Examples:
              gatectl catalog import Examples/kubernetes-catalog.yaml
            """,
        subcommands: [CatalogImport.self]
    )
}
