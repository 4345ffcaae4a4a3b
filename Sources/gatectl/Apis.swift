import ArgumentParser

/// `gatectl apis`: the API group/versions and resources the server knows.
struct Apis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and inspect APIs (group/versions and resources).",
        discussion: """
            APIs are switched with `gatectl set COMPONENT --runtime-config=...`.

            Examples:
              gatectl apis list --stage beta
              gatectl apis get batch/v1beta1
            """,
        subcommands: [ApisList.self, ApisGet.self]
    )
}
