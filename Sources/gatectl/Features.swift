import ArgumentParser

/// `gatectl features`: the feature gates the server knows.
struct Features: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and inspect feature gates.",
        discussion: """
            Examples:
              gatectl features list --component kubelet
              gatectl features get GracefulNodeShutdown
            """,
        subcommands: [FeaturesList.self, FeaturesGet.self]
    )
}
